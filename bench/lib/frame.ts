// The frames the benchmarks feed to BPF_PROG_TEST_RUN: Ethernet + IPv4 + TCP, no options.

/** TCP flag bits (byte 13 of the TCP header). */
export const TCP_SYN = 0x02;
export const TCP_ACK = 0x10;

/** Length of every benchmark frame: the Ethernet minimum without FCS (54 bytes of headers, 6 of padding). */
export const FRAME_BYTES = 60;

/**
 * An Ethernet/IPv4/TCP segment from 192.0.2.1:40000 to 198.51.100.7:`dport` with `flags`, padded with
 * zeros to {@link FRAME_BYTES} the way a NIC pads a minimum-size frame (the IPv4 total length says 40).
 */
export function tcpFrame(dport: number, flags: number): Buffer {
  if (!Number.isInteger(dport) || dport < 0 || dport > 0xffff) throw new RangeError(`port ${dport} is not a u16`);
  if (!Number.isInteger(flags) || flags < 0 || flags > 0xff) throw new RangeError(`TCP flags ${flags} are not a u8`);
  const b = Buffer.alloc(FRAME_BYTES);
  Buffer.from('020000000002020000000001', 'hex').copy(b, 0); // dst MAC, src MAC
  b.writeUInt16BE(0x0800, 12); // IPv4
  b[14] = 0x45; // version 4, ihl 5
  b.writeUInt16BE(20 + 20, 16); // total length
  b[22] = 64; // ttl
  b[23] = 6; // TCP
  b.set([192, 0, 2, 1], 26);
  b.set([198, 51, 100, 7], 30);
  b.writeUInt16BE(40000, 34);
  b.writeUInt16BE(dport, 36);
  b.writeUInt32BE(1000, 38); // sequence number
  b[46] = 5 << 4; // data offset 5
  b[47] = flags;
  b.writeUInt16BE(65535, 48); // window
  return b;
}
