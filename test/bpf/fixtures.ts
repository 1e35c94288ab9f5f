// Shared bits of the kernel-layer tests: where the test objects are, frames to feed test_run.
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';

const BUILD = fileURLToPath(new URL('../../programs/build/test/', import.meta.url));

/** Path of a compiled test object (programs/build/test/<name>.bpf.o); run `make -C programs` first. */
export function testObject(name: string): string {
  const p = `${BUILD}${name}.bpf.o`;
  if (!existsSync(p)) throw new Error(`${p} is missing: build it with 'make -C programs'`);
  return p;
}

/** An Ethernet + IPv4 + UDP frame to `dport` (64 bytes on the wire with the default payload). */
export function udpFrame(dport: number, payload = 18): Buffer {
  const b = Buffer.alloc(14 + 20 + 8 + payload);
  b.writeUInt16BE(0x0800, 12);
  b[14] = 0x45;
  b.writeUInt16BE(20 + 8 + payload, 16);
  b[22] = 64;
  b[23] = 17;
  b.set([10, 0, 0, 2], 26);
  b.set([10, 0, 0, 1], 30);
  b.writeUInt16BE(40000, 34);
  b.writeUInt16BE(dport, 36);
  b.writeUInt16BE(8 + payload, 38);
  return b;
}

/** Waits until `cond` holds or fails after `timeoutMs`. */
export async function eventually(what: string, cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
