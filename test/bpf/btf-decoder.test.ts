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
