/**
 * The REST API's TLS material from `[mtls] cert-dir`: server certificate and key, and the client
 * CA bundle, which is the ONLY trust anchor (not the system roots, unlike l3afd).
 *
 * - {@link TlsMaterial.serverOptions}: options for an https server requiring a client
 *   certificate signed by the CA, with `min-tls-version` honoured (l3afd ignored it);
 * - {@link TlsMaterial.certificateExpiry}: the earliest expiry of the server certificate and the
 *   CA certificates (for a gauge); a log line within `cert-expiry-warning-days` and when expired
 *   (never a shutdown);
 * - {@link TlsMaterial.watch}: reload without a restart — on a change in the directory, on
 *   SIGHUP (main), and on a timer; new files are checked (parse, key matches the certificate)
 *   before `server.setSecureContext`, a bad set is logged and the previous one kept.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { createSecureContext, type SecureContextOptions, type SecureVersion, type TlsOptions } from 'node:tls';
import type { AgentConfig } from '../config/index.ts';
import { messageOf } from '../error-message.ts';
import type { Logger } from '../logger.ts';

/** A TLS file that is missing, unreadable or not what it should be. */
export class TlsConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TlsConfigError';
  }
}

/** One certificate's validity. */
export interface CertificateValidity {
  readonly role: 'server' | 'ca';
  readonly file: string;
  readonly subject: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly daysLeft: number;
}

/** The earliest expiry over the server certificate and the CA certificates. */
export interface CertificateExpiry {
  readonly notAfter: Date;
  /** Days until notAfter (fractional; negative once expired). */
  readonly daysLeft: number;
  readonly certificates: readonly CertificateValidity[];
}

/** Something whose secure context can be replaced (an https / tls server). */
export interface SecureContextTarget {
  setSecureContext(options: SecureContextOptions): void;
}

interface Loaded {
  key: Buffer;
  cert: Buffer;
  ca: Buffer;
  digest: string;
  certificates: CertificateValidity[];
}

const DAY_MS = 86_400_000;

/** `[mtls] min-tls-version` as node's name. */
export function minTlsVersion(config: AgentConfig): SecureVersion {
  return config.mtls.minTlsVersion === '1.2' ? 'TLSv1.2' : 'TLSv1.3';
}

/** The PEM blocks of a bundle. */
function pemBlocks(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

/** Options of {@link TlsMaterial}. */
export interface TlsMaterialOptions {
  readonly logger: Logger;
  /** Clock (tests). */
  readonly now?: () => number;
  /** Timer re-check interval (default 60 s): reload on change, expiry log at most daily. */
  readonly pollMs?: number;
}

/** The TLS files of `[mtls]`, loaded and watched. */
export class TlsMaterial {
  readonly dir: string;
  readonly files: { readonly key: string; readonly cert: string; readonly ca: string };
  readonly #config: AgentConfig;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #pollMs: number;
  #current: Loaded;
  #targets: SecureContextTarget[] = [];
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #debounce: NodeJS.Timeout | undefined;
  #lastExpiryLog = 0;

  /** Loads the files (throws TlsConfigError naming the file and the key). */
  constructor(config: AgentConfig, opts: TlsMaterialOptions) {
    this.#config = config;
    this.#log = opts.logger;
    this.#now = opts.now ?? Date.now;
    this.#pollMs = opts.pollMs ?? 60_000;
    const m = config.mtls;
    if (m.certDir === '') throw new TlsConfigError('[mtls] cert-dir is empty: set it to the directory holding the CA bundle and the server certificate and key');
    this.dir = m.certDir;
    this.files = { key: join(m.certDir, m.serverKeyFilename), cert: join(m.certDir, m.serverCertFilename), ca: join(m.certDir, m.cacertFilename) };
    this.#current = this.#load();
    this.checkExpiry(true);
  }

  #read(file: string, key: string): Buffer {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new TlsConfigError(`[mtls] ${key}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  }

  #load(): Loaded {
    const key = this.#read(this.files.key, 'server-key-filename');
    const cert = this.#read(this.files.cert, 'server-cert-filename');
    const ca = this.#read(this.files.ca, 'cacert-filename');
    const now = this.#now();
    const validity = (role: 'server' | 'ca', file: string, pem: string): CertificateValidity => {
      let x: X509Certificate;
      try {
        x = new X509Certificate(pem);
      } catch (err) {
        throw new TlsConfigError(`${file}: not a PEM certificate (${messageOf(err)})`);
      }
      const notAfter = new Date(x.validTo);
      return { role, file, subject: x.subject.replace(/\n/g, ', '), notBefore: new Date(x.validFrom), notAfter, daysLeft: (notAfter.getTime() - now) / DAY_MS };
    };
    const serverPem = pemBlocks(cert.toString('utf8'))[0];
    if (serverPem === undefined) throw new TlsConfigError(`[mtls] server-cert-filename: ${this.files.cert} holds no PEM certificate`);
    const caPems = pemBlocks(ca.toString('utf8'));
    if (caPems.length === 0) throw new TlsConfigError(`[mtls] cacert-filename: ${this.files.ca} holds no PEM certificate`);
    const certificates = [validity('server', this.files.cert, serverPem), ...caPems.map((p) => validity('ca', this.files.ca, p))];
    try {
      createSecureContext({ key, cert, ca });
    } catch (err) {
      throw new TlsConfigError(`[mtls] ${this.files.key} does not go with ${this.files.cert}, or one is malformed: ${messageOf(err)}`);
    }
    const digest = createHash('sha256').update(key).update('\0').update(cert).update('\0').update(ca).digest('hex');
    return { key, cert, ca, digest, certificates };
  }

  /** The secure-context part: server key and certificate, the CA as the only trust anchor. */
  secureContext(): SecureContextOptions {
    return { key: this.#current.key, cert: this.#current.cert, ca: this.#current.ca, minVersion: minTlsVersion(this.#config) };
  }

  /** Options for the REST server: client certificate required and verified against the CA only. */
  serverOptions(): TlsOptions {
    return { ...this.secureContext(), requestCert: true, rejectUnauthorized: true };
  }

  /**
   * Options for the metrics endpoint's optional TLS (server certificate; client certificates
   * only when `requireClientCert`); used by the metrics server when `[l3af] metrics-tls` is on.
   */
  metricsOptions(requireClientCert = false): TlsOptions {
    return { ...this.secureContext(), requestCert: requireClientCert, rejectUnauthorized: requireClientCert };
  }

  /** The earliest expiry over the server and CA certificates. */
  certificateExpiry(): CertificateExpiry {
    const now = this.#now();
    const certificates = this.#current.certificates.map((c) => ({ ...c, daysLeft: (c.notAfter.getTime() - now) / DAY_MS }));
    const first = certificates.reduce((a, b) => (b.notAfter < a.notAfter ? b : a));
    return { notAfter: first.notAfter, daysLeft: first.daysLeft, certificates };
  }

  /** Logs certificates within the warning window or expired (at most once a day unless `force`). */
  checkExpiry(force = false): void {
    const now = this.#now();
    if (!force && now - this.#lastExpiryLog < DAY_MS) return;
    this.#lastExpiryLog = now;
    const warnDays = this.#config.mtls.certExpiryWarningDays;
    for (const c of this.certificateExpiry().certificates) {
      const info = { role: c.role, file: c.file, subject: c.subject, notAfter: c.notAfter.toISOString(), daysLeft: Math.floor(c.daysLeft * 10) / 10 };
      if (c.daysLeft <= 0) this.#log.error(info, 'TLS certificate has expired: replace it (the agent keeps running and reloads it)');
      else if (c.notBefore.getTime() > now) this.#log.error({ ...info, notBefore: c.notBefore.toISOString() }, 'TLS certificate is not valid yet');
      else if (c.daysLeft <= warnDays) this.#log.warn({ ...info, warningDays: warnDays }, 'TLS certificate expires soon');
    }
  }

  /**
   * Re-reads the files; when they changed and are usable, applies them to every watched target.
   * Returns whether a new context was applied. A bad set is logged and the previous one kept.
   */
  reload(reason: string): boolean {
    let next: Loaded;
    try {
      next = this.#load();
    } catch (err) {
      this.#log.error({ reason, err: messageOf(err) }, 'TLS certificates not reloaded: keeping the previous ones');
      return false;
    }
    if (next.digest === this.#current.digest) return false;
    this.#current = next;
    for (const t of this.#targets) t.setSecureContext(this.secureContext());
    const server = next.certificates[0];
    this.#log.info({ reason, notAfter: server?.notAfter.toISOString(), subject: server?.subject }, 'TLS certificates reloaded');
    this.checkExpiry(true);
    return true;
  }

  /** Applies reloads to `target` from now on; starts the directory watch and the timer once. */
  watch(target: SecureContextTarget): void {
    this.#targets.push(target);
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => {
      this.reload('timer');
      this.checkExpiry();
    }, this.#pollMs);
    this.#timer.unref();
    try {
      this.#watcher = watch(this.dir, { persistent: false }, () => {
        clearTimeout(this.#debounce);
        this.#debounce = setTimeout(() => this.reload('file change'), 250);
        this.#debounce.unref();
      });
      this.#watcher.on('error', (err) => this.#log.warn({ dir: this.dir, err: err.message }, 'watching the certificate directory failed: reloads on SIGHUP and the timer only'));
    } catch (err) {
      this.#log.warn({ dir: this.dir, err: messageOf(err) }, 'cannot watch the certificate directory: reloads on SIGHUP and the timer only');
    }
  }

  /** Stops watching a target (e.g. a server that was closed). */
  unwatch(target: SecureContextTarget): void {
    this.#targets = this.#targets.filter((t) => t !== target);
  }

  /** Stops the timer and the watch. */
  close(): void {
    clearInterval(this.#timer);
    clearTimeout(this.#debounce);
    this.#watcher?.close();
    this.#timer = undefined;
    this.#targets = [];
  }
}
