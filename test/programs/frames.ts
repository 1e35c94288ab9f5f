// Crafted frames for the package programs' test_run tests: Ethernet (with optional VLAN tags), ARP, IPv4
// (with optional options, fragments), IPv6 (with optional extension headers), TCP and UDP.
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';

const BUILD = fileURLToPath(new URL('../../programs/build/', import.meta.url));

/** Path of a package object (programs/build/<name>.bpf.o); run `make -C programs` first. */
export function programObject(name: string): string {
  const p = `${BUILD}${name}.bpf.o`;
  if (!existsSync(p)) throw new Error(`${p} is missing: build it with 'make -C programs'`);
  return p;
}

export const ETH_P_IP = 0x0800;
export const ETH_P_IPV6 = 0x86dd;
export const ETH_P_ARP = 0x0806;
export const ETH_P_8021Q = 0x8100;
export const ETH_P_8021AD = 0x88a8;

export const TCP_SYN = 0x02;
export const TCP_ACK = 0x10;

export const SRC4 = [192, 0, 2, 1];
export const DST4 = [198, 51, 100, 7];
export const SRC6 = Buffer.from('20010db8000000000000000000000001', 'hex');
export const DST6 = Buffer.from('20010db8000000000000000000000002', 'hex');

/** A VLAN tag: its TPID (0x8100 / 0x88a8) and VLAN id. */
export interface VlanTag {
  readonly tpid: number;
  readonly vid: number;
}

/** Ethernet header (dst, src, tags, ethertype) followed by `payload`. */
export function ethernet(ethertype: number, payload: Buffer, tags: readonly VlanTag[] = []): Buffer {
  const h = Buffer.alloc(12 + 4 * tags.length + 2);
  Buffer.from('020000000002020000000001', 'hex').copy(h, 0);
  tags.forEach((t, i) => {
    h.writeUInt16BE(t.tpid, 12 + 4 * i);
    h.writeUInt16BE(t.vid & 0x0fff, 14 + 4 * i);
  });
  h.writeUInt16BE(ethertype, 12 + 4 * tags.length);
  return Buffer.concat([h, payload]);
}

/** A 20-byte TCP header (data offset 5) with the given flags. */
export function tcp(sport: number, dport: number, flags: number): Buffer {
  const b = Buffer.alloc(20);
  b.writeUInt16BE(sport, 0);
  b.writeUInt16BE(dport, 2);
  b.writeUInt32BE(1000, 4);
  b[12] = 5 << 4;
  b[13] = flags;
  b.writeUInt16BE(65535, 14);
  return b;
}

/** An 8-byte UDP header and `payloadLen` zero bytes. */
export function udp(sport: number, dport: number, payloadLen = 4): Buffer {
  const b = Buffer.alloc(8 + payloadLen);
  b.writeUInt16BE(sport, 0);
  b.writeUInt16BE(dport, 2);
  b.writeUInt16BE(8 + payloadLen, 4);
  return b;
}

export interface Ipv4Options {
  readonly proto?: number;
  /** IP options (padded with NOPs to a multiple of 4 bytes). */
  readonly options?: Buffer;
  /** Fragment offset in 8-byte units (non-zero = not the first fragment). */
  readonly fragOffset?: number;
  readonly moreFragments?: boolean;
}

/** An IPv4 header (ihl from the options' length) followed by `payload`. */
export function ipv4(payload: Buffer, o: Ipv4Options = {}): Buffer {
  let opts = o.options ?? Buffer.alloc(0);
  if (opts.length % 4) opts = Buffer.concat([opts, Buffer.alloc(4 - (opts.length % 4), 1)]);
  const h = Buffer.alloc(20 + opts.length);
  h[0] = 0x40 | ((20 + opts.length) / 4);
  h.writeUInt16BE(h.length + payload.length, 2);
  h.writeUInt16BE(((o.moreFragments ? 1 : 0) << 13) | (o.fragOffset ?? 0), 6);
  h[8] = 64;
  h[9] = o.proto ?? 6;
  h.set(SRC4, 12);
  h.set(DST4, 16);
  opts.copy(h, 20);
  return Buffer.concat([h, payload]);
}

/** One IPv6 extension header: its protocol number and its bytes (next-header byte is filled in). */
export interface Ipv6Ext {
  readonly type: number;
  readonly bytes: Buffer;
}

export const IPPROTO_HOPOPTS = 0;
export const IPPROTO_ROUTING = 43;
export const IPPROTO_FRAGMENT = 44;
export const IPPROTO_DSTOPTS = 60;

/** A hop-by-hop / destination-options / routing header of `units` x 8 bytes (PadN options). */
export function optionsExt(type: number, units = 1): Ipv6Ext {
  const b = Buffer.alloc(units * 8);
  b[1] = units - 1;
  b[2] = 1; // PadN
  b[3] = units * 8 - 4;
  return { type, bytes: b };
}

/** A fragment header with the given offset (8-byte units). */
export function fragmentExt(offset: number, more = true): Ipv6Ext {
  const b = Buffer.alloc(8);
  b.writeUInt16BE((offset << 3) | (more ? 1 : 0), 2);
  b.writeUInt32BE(0x1234, 4);
  return { type: IPPROTO_FRAGMENT, bytes: b };
}

/** An IPv6 header, its extension headers (chained), then `payload` of protocol `proto`. */
export function ipv6(payload: Buffer, proto = 6, exts: readonly Ipv6Ext[] = []): Buffer {
  const parts = exts.map((e, i) => {
    const b = Buffer.from(e.bytes);
    b[0] = i + 1 < exts.length ? exts[i + 1]!.type : proto;
    return b;
  });
  const extLen = parts.reduce((n, b) => n + b.length, 0);
  const h = Buffer.alloc(40);
  h.writeUInt32BE(6 << 28, 0);
  h.writeUInt16BE(extLen + payload.length, 4);
  h[6] = exts.length > 0 ? exts[0]!.type : proto;
  h[7] = 64;
  SRC6.copy(h, 8);
  DST6.copy(h, 24);
  return Buffer.concat([h, ...parts, payload]);
}

/** An ARP request (28 bytes). */
export function arp(): Buffer {
  const b = Buffer.alloc(28);
  b.writeUInt16BE(1, 0);
  b.writeUInt16BE(ETH_P_IP, 2);
  b[4] = 6;
  b[5] = 4;
  b.writeUInt16BE(1, 6);
  b.set(SRC4, 14);
  b.set(DST4, 24);
  return b;
}

/** IPv4 TCP segment to `dport` with `flags`, optionally VLAN-tagged. */
export function tcp4(dport: number, flags = TCP_SYN, tags: readonly VlanTag[] = [], sport = 40000): Buffer {
  return ethernet(ETH_P_IP, ipv4(tcp(sport, dport, flags)), tags);
}

/** IPv6 TCP segment to `dport` with `flags` and optional extension headers. */
export function tcp6(dport: number, flags = TCP_SYN, exts: readonly Ipv6Ext[] = [], sport = 40000): Buffer {
  return ethernet(ETH_P_IPV6, ipv6(tcp(sport, dport, flags), 6, exts));
}
