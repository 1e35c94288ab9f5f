/**
 * Scalar syntaxes of l3afd's configuration: Go durations, configparser booleans, integers,
 * `host:port` listen addresses and comma-separated lists.
 */

const UNIT_MS: Record<string, number> = {
  ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000,
};

/**
 * Parses a Go duration (`300ms`, `1.5h`, `1m30s`, `-2s`, `0`) into milliseconds (may be
 * fractional for ns/µs). Returns `undefined` when the text is not a Go duration.
 */
export function parseGoDuration(text: string): number | undefined {
  const s = text.trim();
  if (s === '0' || s === '+0' || s === '-0') return 0;
  const m = /^([+-]?)((?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+)$/.exec(s);
  if (!m) return undefined;
  let total = 0;
  for (const part of (m[2] ?? '').matchAll(/(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)) {
    total += Number(part[1]) * (UNIT_MS[part[2] ?? ''] ?? NaN);
  }
  if (!Number.isFinite(total)) return undefined;
  return m[1] === '-' ? -total : total;
}

/** Formats milliseconds as a Go duration (`1m30s`, `250ms`, `0s`), for messages and dumps. */
export function formatGoDuration(ms: number): string {
  if (ms === 0) return '0s';
  const sign = ms < 0 ? '-' : '';
  let rest = Math.abs(ms);
  if (rest < 1000) return `${sign}${rest}ms`;
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const m = Math.floor(rest / 60_000);
  rest -= m * 60_000;
  const s = rest / 1000;
  return `${sign}${h ? `${h}h` : ''}${h || m ? `${m}m` : ''}${s}s`;
}

const TRUE = new Set(['t', 'true', 'y', 'yes', 'on', '1']);
const FALSE = new Set(['f', 'false', 'n', 'no', 'off', '0']);

/** Parses a configparser boolean (t,true,y,yes,on,1 / f,false,n,no,off,0; any case). */
export function parseBool(text: string): boolean | undefined {
  const s = text.trim().toLowerCase();
  if (TRUE.has(s)) return true;
  if (FALSE.has(s)) return false;
  return undefined;
}

/** Parses a decimal integer (optional sign); `undefined` otherwise or beyond the safe range. */
export function parseInteger(text: string): number | undefined {
  const s = text.trim();
  if (!/^[+-]?\d+$/.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** A parsed listen address. `host` is "" for "all interfaces" (`:8080`); IPv6 without brackets. */
export interface HostPort {
  host: string;
  port: number;
}

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/**
 * Parses a Go listen address `host:port` (`localhost:53000`, `0.0.0.0:7080`, `[::1]:8898`,
 * `:8080`). Port 0-65535; host a DNS name, an IPv4 address or a bracketed IPv6 address.
 * Returns `undefined` when malformed.
 */
export function parseHostPort(text: string): HostPort | undefined {
  const s = text.trim();
  let host: string;
  let portText: string;
  if (s.startsWith('[')) {
    const end = s.indexOf(']');
    if (end < 0 || s[end + 1] !== ':') return undefined;
    host = s.slice(1, end);
    portText = s.slice(end + 2);
    if (!/^[0-9A-Fa-f:.]+(%[\w.-]+)?$/.test(host) || !host.includes(':')) return undefined;
  } else {
    const i = s.lastIndexOf(':');
    if (i < 0) return undefined;
    host = s.slice(0, i);
    portText = s.slice(i + 1);
    if (host !== '' && !IPV4.test(host) && !HOSTNAME.test(host)) return undefined;
  }
  if (!/^\d{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port > 65535) return undefined;
  return { host, port };
}

/** Splits a comma-separated list, trimming items and dropping empty ones (so "" is an empty list). */
export function parseList(text: string): string[] {
  return text.split(',').map((x) => x.trim()).filter((x) => x !== '');
}
