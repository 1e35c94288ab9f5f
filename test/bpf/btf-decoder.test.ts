// BTF decoding of event records against the real BTF of test/bpf/obs_events.bpf.c (bpftool btf
// dump of the built object): every field kind of struct obs_event from a record laid out by hand
// at the offsets clang chose, map value types from the .maps definitions, clear errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BtfTypes, btfDecoder, rawRecord } from '../../agent/src/bpf/btf-decoder.ts';

const OBJ = fileURLToPath(new URL('../../programs/build/test/obs_events.bpf.o', import.meta.url));
const RL = fileURLToPath(new URL('../../programs/build/ratelimiting.bpf.o', import.meta.url));

test('struct obs_event from the object BTF: integers, 64-bit beyond 2^53, bitfields, enum, char and byte arrays', () => {
  assert.ok(existsSync(OBJ), `${OBJ} is missing: build it with 'make -C programs'`);
  const types = BtfTypes.ofFile(OBJ);
  const t = types.struct('obs_event');
  assert.equal(types.sizeOf(t), 48);
  const decode = btfDecoder(types, t);
  // offsets from the BTF members (bits_offset / 8): seq 0, len 8, delta 12, bitfields in byte 14, kind 16, tag 20, dst 28, big 40
  const r = Buffer.alloc(48);
  r.writeBigUInt64LE(7n, 0);
  r.writeUInt32LE(133, 8);
  r.writeInt16LE(-67, 12);
  r[14] = 0b0000_1101; // low3 = 5 (bits 0..2), long_frame = 1 (bit 3)
  r.writeUInt32LE(2, 16);
  r.write('obs', 20, 'latin1');
  Buffer.from([0x02, 0, 0, 0, 0, 0x0b]).copy(r, 28);
  r.writeBigUInt64LE((1n << 63n) + 7n, 40);
  assert.deepEqual(decode(r), {
    seq: 7, len: 133, delta: -67, low3: 5, long_frame: 1, kind: 'OBS_LONG', tag: 'obs', dst: '02000000000b', big: '9223372036854775815',
  });
  r.writeUInt32LE(9, 16);
  assert.equal((decode(r) as { kind: unknown }).kind, 9, 'an enum value without a name stays a number');
  assert.throws(() => decode(Buffer.alloc(47)), /47 bytes, struct obs_event is 48/);
  assert.deepEqual(rawRecord(Buffer.from([1, 0xab])), { raw: '01ab', size: 2 });
});

test('map value types come from the .maps definitions; ring buffers have none; unknown structs are named', () => {
  const types = BtfTypes.ofFile(OBJ);
  assert.equal(types.mapValueType('obs_ctr')?.name, 'unsigned long long');
  assert.equal(types.mapValueType('obs_last')?.name, 'obs_event', 'a struct value type through __type(value, struct obs_event)');
  assert.equal(types.mapValueType('obs_events'), undefined, 'a ring buffer declares no value type');
  assert.equal(types.mapValueType('absent'), undefined);
  assert.throws(() => types.struct('no_such_event'), /struct no_such_event is not in the program's BTF/);
  // ratelimiting's rl_drop_event is only used inside inlined code: clang does not emit it
  assert.throws(() => BtfTypes.ofFile(RL).struct('rl_drop_event'), /not in the program's BTF/);
  assert.throws(() => btfDecoder(types, types.resolve(types.struct('obs_event').members![0]!.type_id)), /not a struct/);
  assert.throws(() => BtfTypes.ofFile('/nonexistent.o'), /bpftool btf dump file \/nonexistent\.o failed/);
  assert.throws(() => BtfTypes.ofId(0), /no BTF/);
});

test('the compiled decoder: every integer width and sign against BigInt, 64-bit at the edges, nested structs, unions, arrays, quoted names', () => {
  // a hand-written BTF (the shapes bpftool -j prints): struct s { u8; s8; u16; s16; u32; s32; u64; s64; _Bool; float; double;
  // u16 a[3]; struct in { u32 x; } n[2]; union { u32 w; u8 b; } un; struct in big[20]; char "we\"ird"[4]; }
  const types = new BtfTypes([
    { id: 1, kind: 'INT', name: 'u8', size: 1, encoding: '(none)' },
    { id: 2, kind: 'INT', name: 's8', size: 1, encoding: 'SIGNED' },
    { id: 3, kind: 'INT', name: 'u16', size: 2, encoding: '(none)' },
    { id: 4, kind: 'INT', name: 's16', size: 2, encoding: 'SIGNED' },
    { id: 5, kind: 'INT', name: 'u32', size: 4, encoding: '(none)' },
    { id: 6, kind: 'INT', name: 's32', size: 4, encoding: 'SIGNED' },
    { id: 7, kind: 'INT', name: 'u64', size: 8, encoding: '(none)' },
    { id: 8, kind: 'INT', name: 's64', size: 8, encoding: 'SIGNED' },
    { id: 9, kind: 'INT', name: '_Bool', size: 1, encoding: 'BOOL' },
    { id: 10, kind: 'FLOAT', name: 'float', size: 4 },
    { id: 11, kind: 'FLOAT', name: 'double', size: 8 },
    { id: 12, kind: 'ARRAY', name: '(anon)', type_id: 3, nr_elems: 3 },
    { id: 13, kind: 'STRUCT', name: 'in', size: 4, members: [{ name: 'x', type_id: 5, bits_offset: 0 }] },
    { id: 14, kind: 'ARRAY', name: '(anon)', type_id: 13, nr_elems: 2 },
    { id: 15, kind: 'UNION', name: '(anon)', size: 4, members: [{ name: 'w', type_id: 5, bits_offset: 0 }, { name: 'b', type_id: 1, bits_offset: 0 }] },
    { id: 16, kind: 'ARRAY', name: '(anon)', type_id: 13, nr_elems: 20 },
    { id: 17, kind: 'INT', name: 'char', size: 1, encoding: 'SIGNED' },
    { id: 18, kind: 'ARRAY', name: '(anon)', type_id: 17, nr_elems: 4 },
    {
      id: 20, kind: 'STRUCT', name: 's', size: 152, members: [
        { name: 'u8', type_id: 1, bits_offset: 0 }, { name: 's8', type_id: 2, bits_offset: 8 },
        { name: 'u16', type_id: 3, bits_offset: 16 }, { name: 's16', type_id: 4, bits_offset: 32 },
        { name: 'u32', type_id: 5, bits_offset: 64 }, { name: 's32', type_id: 6, bits_offset: 96 },
        { name: 'u64', type_id: 7, bits_offset: 128 }, { name: 's64', type_id: 8, bits_offset: 192 },
        { name: 'ok', type_id: 9, bits_offset: 256 }, { name: 'f', type_id: 10, bits_offset: 288 },
        { name: 'd', type_id: 11, bits_offset: 320 }, { name: 'a', type_id: 12, bits_offset: 384 },
        { name: 'n', type_id: 14, bits_offset: 448 }, { name: '', type_id: 15, bits_offset: 512 },
        { name: 'big', type_id: 16, bits_offset: 544 }, { name: 'we"ird}; process.exit(1); ({', type_id: 18, bits_offset: 1184 },
      ],
    },
  ]);
  const decode = btfDecoder(types, types.get(20));
  const r = Buffer.alloc(152);
  let seed = 12345;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) >>> 0);
  const edges64 = [0n, 1n, (1n << 53n) - 1n, 1n << 53n, (1n << 53n) + 1n, (1n << 63n) - 1n, 1n << 63n, (1n << 64n) - 1n, 0x1fffffn << 32n, 0x200000n << 32n, 99999n * 100000n];
  const num64 = (v: bigint): number | string => (v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString());
  for (let i = 0; i < 2000; i++) {
    for (let k = 0; k < r.length; k += 4) r.writeUInt32LE(rnd(), k);
    const u64 = i < edges64.length ? edges64[i]! : (BigInt(rnd()) << 32n) | BigInt(rnd());
    r.writeBigUInt64LE(u64, 16);
    if (i < edges64.length) r.writeBigUInt64LE(edges64[i]!, 24); // the same bits read signed: 2^63 is -2^63, 2^64-1 is -1
    r.fill(0, 152 - 4);
    r.write('ab', 148, 'latin1');
    const got = decode(r) as Record<string, unknown>;
    const exp = {
      u8: r.readUInt8(0), s8: r.readInt8(1), u16: r.readUInt16LE(2), s16: r.readInt16LE(4), u32: r.readUInt32LE(8), s32: r.readInt32LE(12),
      u64: num64(r.readBigUInt64LE(16)), s64: num64(r.readBigInt64LE(24)), ok: r[32] !== 0, f: r.readFloatLE(36), d: r.readDoubleLE(40),
      a: [r.readUInt16LE(48), r.readUInt16LE(50), r.readUInt16LE(52)], n: [{ x: r.readUInt32LE(56) }, { x: r.readUInt32LE(60) }],
      _13: { w: r.readUInt32LE(64), b: r[64] }, big: Array.from({ length: 20 }, (_, j) => ({ x: r.readUInt32LE(68 + 4 * j) })),
      'we"ird}; process.exit(1); ({': 'ab',
    };
    assert.deepEqual(got, exp, `record ${i}: ${r.toString('hex')}`);
  }
});
