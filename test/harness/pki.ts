/** Test certificates made with openssl: a CA and leaves with SANs (mTLS tests of the API, metrics and l3afctl). */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

function openssl(cwd: string, args: string[]): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A test PKI made with openssl in `dir`. */
export class TestPki {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  /** A self-signed CA `<name>.pem` / `<name>.key`. */
  ca(name: string): void {
    openssl(this.dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`,
      '-days', '30', '-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  }

  /** A leaf `<name>.crt` / `<name>.key` signed by CA `ca`, with these SANs (`DNS:x`, `IP:y`), valid `days` days. */
  leaf(name: string, ca: string, sans: string[], usage: 'serverAuth' | 'clientAuth', days = 20): void {
    openssl(this.dir, ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
    writeFileSync(join(this.dir, `${name}.ext`), `subjectAltName=${sans.join(',')}\nextendedKeyUsage=${usage}\nbasicConstraints=CA:FALSE\n`);
    openssl(this.dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.crt`,
      '-days', String(days), '-extfile', `${name}.ext`]);
  }

  path(file: string): string {
    return join(this.dir, file);
  }
}
