// Shared bits of the hostile-repository tests: the agent's settings for them (it runs through
// test/harness/agent-process.ts), a package repository on 127.0.0.1 that serves the real packages of programs/repo and hostile ones built on the
// fly (bombs streamed through zlib, never stored in the repository), a GET prober that measures how long the
// agent takes to answer, and the agent's peak RSS (VmHWM) and open fds from /proc.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { crc32, createGzip, gzipSync } from 'node:zlib';
import { ROOT } from '../engine/helpers.ts';
import type { AgentProcess } from '../harness/agent-process.ts';

/** A TCP port that was free a moment ago on 127.0.0.1. */

// ---------------------------------------------------------------- archives

export interface TarSpec { name: string; type?: '0' | '2' | '5'; data?: Buffer; size?: number; linkname?: string; mode?: number }

function octal(buf: Buffer, off: number, len: number, value: number): void {
  buf.write(`${value.toString(8).padStart(len - 1, '0')}\0`, off, len, 'ascii');
}

/** One ustar header block (size = `size` or the data's length). */
export function tarHeader(s: TarSpec): Buffer {
  const type = s.type ?? '0';
  const h = Buffer.alloc(512);
  h.write(s.name, 0, 100, 'utf8');
  octal(h, 100, 8, s.mode ?? (type === '5' ? 0o755 : type === '2' ? 0o777 : 0o644));
  octal(h, 108, 8, 0);
  octal(h, 116, 8, 0);
  octal(h, 124, 12, type === '0' ? s.size ?? s.data?.length ?? 0 : 0);
  octal(h, 136, 12, 1_700_000_000);
  h.write('        ', 148, 8, 'ascii');
  h.write(type, 156, 1, 'ascii');
  if (s.linkname) h.write(s.linkname, 157, 100, 'utf8');
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return h;
}

/** A small tar.gz built in memory. */
export function tarGz(entries: TarSpec[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    parts.push(tarHeader(e));
    if ((e.type ?? '0') === '0' && e.data) parts.push(e.data, Buffer.alloc((512 - (e.data.length % 512)) % 512));
  }
  return gzipSync(Buffer.concat([...parts, Buffer.alloc(1024)]));
}

/**
 * gzip of a stream made on the fly: `head`, then `zeros` zero bytes (in 1 MiB steps), then `tail`. Only the
 * compressed bytes are held (a GiB of zeros is about 1 MiB of gzip).
 */
export async function gzipStream(head: Buffer, zeros: number, tail: Buffer): Promise<Buffer> {
  const gz = createGzip({ level: 1 });
  const out: Buffer[] = [];
  gz.on('data', (c: Buffer) => out.push(c));
  const ended = new Promise<void>((resolve, reject) => { gz.on('end', resolve); gz.on('error', reject); });
  const write = async (b: Buffer): Promise<void> => {
    if (!gz.write(b)) await new Promise<void>((r) => gz.once('drain', () => r()));
  };
  await write(head);
  const mib = Buffer.alloc(1024 * 1024);
  for (let left = zeros; left > 0; left -= mib.length) await write(left >= mib.length ? mib : mib.subarray(0, left));
  await write(tail);
  gz.end();
  await ended;
  return Buffer.concat(out);
}

export interface ZipSpec { name: string; data?: Buffer; mode?: number }

/** A stored (uncompressed) zip with unix modes in the external attributes (symlink: mode 0o120777, data = target). */
export function zip(entries: ZipSpec[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, 'utf8');
    const data = e.data ?? Buffer.alloc(0);
    const crc = crc32(data);
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0); lh.writeUInt16LE(20, 4); lh.writeUInt16LE(0x0800, 6); lh.writeUInt16LE(0, 8);
    lh.writeUInt16LE(0, 10); lh.writeUInt16LE(0x21, 12); lh.writeUInt32LE(crc, 14); lh.writeUInt32LE(data.length, 18);
    lh.writeUInt32LE(data.length, 22); lh.writeUInt16LE(name.length, 26); lh.writeUInt16LE(0, 28);
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0); ch.writeUInt16LE((3 << 8) | 20, 4); ch.writeUInt16LE(20, 6); ch.writeUInt16LE(0x0800, 8);
    ch.writeUInt16LE(0, 10); ch.writeUInt16LE(0, 12); ch.writeUInt16LE(0x21, 14); ch.writeUInt32LE(crc, 16);
    ch.writeUInt32LE(data.length, 20); ch.writeUInt32LE(data.length, 24); ch.writeUInt16LE(name.length, 28);
    ch.writeUInt16LE(0, 30); ch.writeUInt16LE(0, 32); ch.writeUInt16LE(0, 34); ch.writeUInt16LE(0, 36);
    const mode = e.mode ?? (e.name.endsWith('/') ? 0o040755 : 0o100644);
    ch.writeUInt32LE((mode << 16) >>> 0, 38); ch.writeUInt32LE(offset, 42);
    locals.push(lh, name, data);
    centrals.push(ch, name);
    offset += lh.length + name.length + data.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0); end.writeUInt16LE(entries.length, 8); end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12); end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

// ---------------------------------------------------------------- repository

/** How the repository answers for one package name. */
export type Behaviour =
  | { kind: 'bytes'; body: Buffer; close?: boolean; sha256?: boolean }
  | { kind: 'cut'; length: number; sendBytes: number }
  | { kind: 'stream'; zeros: number }
  | { kind: 'trickle'; everyMs: number };

/**
 * An http repository on 127.0.0.1: `/{name}/{version}/{platform}/{artifact}` answers from `behaviours` by name,
 * else from programs/repo (with its .sha256 when there is one). Counts requests per name.
 */
export class HostileRepo {
  readonly behaviours = new Map<string, Behaviour>();
  readonly hits = new Map<string, number>();
  readonly #server: Server;
  readonly #sockets = new Set<import('node:net').Socket>();
  #timers = new Set<NodeJS.Timeout>();
  url = '';

  private constructor() {
    this.#server = createHttpServer((req, res) => this.#answer(req, res));
    this.#server.on('connection', (s) => { this.#sockets.add(s); s.on('close', () => this.#sockets.delete(s)); });
  }

  static async start(): Promise<HostileRepo> {
    const r = new HostileRepo();
    await new Promise<void>((resolve) => r.#server.listen(0, '127.0.0.1', resolve));
    r.url = `http://127.0.0.1:${(r.#server.address() as AddressInfo).port}/`;
    return r;
  }

  #answer(req: IncomingMessage, res: ServerResponse): void {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const [name = ''] = path.split('/').filter(Boolean);
    this.hits.set(name, (this.hits.get(name) ?? 0) + 1);
    const b = this.behaviours.get(name);
    if (!b) {
      const file = join(ROOT, 'programs', 'repo', path);
      if (!path.includes('..') && existsSync(file)) {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.end(readFileSync(file));
      } else {
        res.writeHead(404);
        res.end();
      }
      return;
    }
    if (path.endsWith('.sha256')) {
      if (b.kind === 'bytes' && b.sha256) res.end(`${createHash('sha256').update(b.body).digest('hex')}  x\n`);
      else { res.writeHead(404); res.end(); }
      return;
    }
    if (b.kind === 'bytes') {
      res.writeHead(200, { 'content-length': b.body.length, ...(b.close ? { connection: 'close' } : {}) });
      res.end(b.body);
    } else if (b.kind === 'stream') {
      // chunked (no Content-Length): the size is only known as bytes arrive
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const mib = Buffer.alloc(1024 * 1024);
      let left = b.zeros;
      const pump = (): void => {
        while (left > 0) {
          left -= mib.length;
          if (!res.write(mib)) { res.once('drain', pump); return; }
        }
        res.end();
      };
      res.on('close', () => { left = 0; });
      pump();
    } else if (b.kind === 'cut') {
      res.writeHead(200, { 'content-length': b.length });
      res.write(Buffer.alloc(b.sendBytes, 0x1f), () => res.socket?.destroy());
    } else {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const t = setInterval(() => res.write(Buffer.from([0x1f])), b.everyMs);
      this.#timers.add(t);
      res.on('close', () => { clearInterval(t); this.#timers.delete(t); });
    }
  }

  async close(): Promise<void> {
    for (const t of this.#timers) clearInterval(t);
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

// ---------------------------------------------------------------- the agent

/** What the hostile-repository tests run the agent with (test/harness/agent-process.ts): info logs, an HTTP repository without checksums. */
export const UNDER_ATTACK = { environment: null, logLevel: 'info', l3af: ['checksum-required-http: false'] } as const;

/**
 * Polls GET every `everyMs` while started; each answer must come within `limitMs`. `stop()` returns the
 * slowest answer (ms), the number of probes, and the failures (no answer in time, or an error).
 */
export function probeGets(agent: AgentProcess, everyMs = 100, limitMs = 1000): { stop: () => Promise<{ maxMs: number; probes: number; failures: string[] }> } {
  let running = true;
  let maxMs = 0;
  let probes = 0;
  const failures: string[] = [];
  const loop = (async () => {
    while (running) {
      const t0 = performance.now();
      try {
        const res = await fetch(agent.base, { signal: AbortSignal.timeout(limitMs) });
        await res.text();
        if (res.status !== 200) failures.push(`GET answered ${res.status}`);
      } catch (e) {
        failures.push(`GET: ${(e as Error).message}`);
      }
      const ms = performance.now() - t0;
      maxMs = Math.max(maxMs, ms);
      probes += 1;
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return { maxMs, probes, failures };
    },
  };
}
