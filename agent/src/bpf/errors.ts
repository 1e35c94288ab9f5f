import { constants } from 'node:os';

const errnoNames = new Map<number, string>();
for (const [name, value] of Object.entries(constants.errno)) {
  if (!errnoNames.has(value)) errnoNames.set(value, name);
}

/** `ENOENT` for 2, `E123` for an errno this platform does not name. */
export function errnoName(errno: number): string {
  return errnoNames.get(Math.abs(errno)) ?? `E${Math.abs(errno)}`;
}

export interface BpfErrorDetails {
  /** The operation that failed, in libbpf's words (`bpf_object__load`, `bpf_xdp_attach`, ...). */
  readonly op: string;
  /** The names involved: object path, program, map, interface, pin path. */
  readonly subject?: Readonly<Record<string, string | number>>;
  /** Positive errno. */
  readonly errno: number;
  /** For a failed load: what the verifier said. */
  readonly verifierLog?: string;
  /** A hint for the reader, appended to the message. */
  readonly hint?: string;
}

/** Every failure of the kernel layer: the operation, the names involved and the errno. */
export class BpfError extends Error {
  readonly op: string;
  readonly subject: Readonly<Record<string, string | number>>;
  readonly errno: number;
  /** Symbolic errno, e.g. `ENOENT`. */
  readonly code: string;
  readonly verifierLog: string | undefined;

  constructor(d: BpfErrorDetails) {
    const errno = Math.abs(d.errno);
    const code = errnoName(errno);
    const who = Object.entries(d.subject ?? {}).map(([k, v]) => `${k} '${v}'`).join(', ');
    let msg = `${d.op}${who ? ` (${who})` : ''} failed: ${code} (errno ${errno})`;
    if (d.hint) msg += `: ${d.hint}`;
    if (d.verifierLog) msg += `\nverifier log (tail):\n${tail(d.verifierLog, 30)}`;
    super(msg);
    this.name = 'BpfError';
    this.op = d.op;
    this.subject = d.subject ?? {};
    this.errno = errno;
    this.code = code;
    this.verifierLog = d.verifierLog;
  }
}

function tail(text: string, lines: number): string {
  const all = text.trimEnd().split('\n');
  return all.slice(-lines).join('\n');
}

/** Throws a BpfError when a libbpf integer return is negative; returns it otherwise. */
export function check(ret: number, op: string, subject?: Record<string, string | number>, hint?: string): number {
  if (ret < 0) throw new BpfError({ op, errno: -ret, ...(subject ? { subject } : {}), ...(hint ? { hint } : {}) });
  return ret;
}
