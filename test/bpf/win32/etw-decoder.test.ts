// ETW decoding on buffers built byte for byte per mingw-w64's x64 layouts (test/windows/layout.test.ts
// checks the offsets): EVENT_RECORD + UserData + TRACE_EVENT_INFO as tdh returns it, for a manifest
// event (XDP-for-Windows style) and a TraceLogging event (eBPF-for-Windows style), no schema, truncation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  EVENT_PROPERTY_INFO as P, EVENT_RECORD as R, TRACE_EVENT_INFO as T, EtwDecodeError, InType, PropertyFlag,
  decodeEtwEvent, guidBytes, guidString,
} from '../../../agent/src/bpf/win32/etw-decoder.ts';

const FILETIME_2026 = BigInt(Date.UTC(2026, 11, 5, 0, 30, 0, 123)) * 10_000n + 116_444_736_000_000_000n;

function record(o: { provider: string; id: number; version: number; level: number; opcode: number; task: number; keyword: bigint; flags?: number; userDataLength: number }): Buffer {
  const b = Buffer.alloc(R.size);
  b.writeUInt16LE(R.size - 32, R.Size);
  b.writeUInt16LE(o.flags ?? 0x40 /* 64-bit header */, R.Flags);
  b.writeUInt32LE(4242, R.ThreadId);
  b.writeUInt32LE(777, R.ProcessId);
  b.writeBigUInt64LE(FILETIME_2026, R.TimeStamp);
  guidBytes(o.provider).copy(b, R.ProviderId);
  b.writeUInt16LE(o.id, R.Id);
  b.writeUInt8(o.version, R.Version);
  b.writeUInt8(o.level, R.Level);
  b.writeUInt8(o.opcode, R.Opcode);
  b.writeUInt16LE(o.task, R.Task);
  b.writeBigUInt64LE(o.keyword, R.Keyword);
  b.writeUInt16LE(o.userDataLength, R.UserDataLength);
  b.writeBigUInt64LE(0x1_0000_2000n, R.UserData); // an address in the consumer's process: never read from the copy
  return b;
}

interface PropSpec { name: string; inType?: number; flags?: number; count?: number; length?: number; structStart?: number; members?: number }

/** TRACE_EVENT_INFO: fixed part, EVENT_PROPERTY_INFO array, then the UTF-16 strings its offsets point to. */
function info(o: { source: number; provider: string; providerName: string; eventName?: string; task?: string; opcode?: string; level?: string; props: PropSpec[]; top: number }): Buffer {
  const fixed = T.EventPropertyInfoArray + o.props.length * P.size;
  const strings: Buffer[] = [];
  let end = fixed;
  const str = (s: string | undefined): number => {
    if (s === undefined) return 0;
    const b = Buffer.from(`${s}\0`, 'utf16le');
    const at = end;
    strings.push(b);
    end += b.length;
    return at;
  };
  const b = Buffer.alloc(fixed);
  guidBytes(o.provider).copy(b, T.ProviderGuid);
  b.writeUInt32LE(o.source, T.DecodingSource);
  b.writeUInt32LE(str(o.providerName), T.ProviderNameOffset);
  b.writeUInt32LE(str(o.level), T.LevelNameOffset);
  b.writeUInt32LE(str(o.task), T.TaskNameOffset);
  b.writeUInt32LE(str(o.opcode), T.OpcodeNameOffset);
  b.writeUInt32LE(str(o.eventName), T.EventNameOffset);
  b.writeUInt32LE(o.props.length, T.PropertyCount);
  b.writeUInt32LE(o.top, T.TopLevelPropertyCount);
  o.props.forEach((p, i) => {
    const at = T.EventPropertyInfoArray + i * P.size;
    b.writeUInt32LE(p.flags ?? 0, at + P.Flags);
    b.writeUInt32LE(str(p.name), at + P.NameOffset);
    if ((p.flags ?? 0) & PropertyFlag.Struct) {
      b.writeUInt16LE(p.structStart ?? 0, at + P.StructStartIndex);
      b.writeUInt16LE(p.members ?? 0, at + P.NumOfStructMembers);
    } else {
      b.writeUInt16LE(p.inType ?? 0, at + P.InType);
    }
    b.writeUInt16LE(p.count ?? 1, at + P.count);
    b.writeUInt16LE(p.length ?? 0, at + P.length);
  });
  return Buffer.concat([b, ...strings]);
}

const u16 = (v: number): Buffer => { const b = Buffer.alloc(2); b.writeUInt16LE(v); return b; };
const u32 = (v: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; };
const i32 = (v: number): Buffer => { const b = Buffer.alloc(4); b.writeInt32LE(v); return b; };
const u64 = (v: bigint): Buffer => { const b = Buffer.alloc(8); b.writeBigUInt64LE(v); return b; };
const wstr = (s: string): Buffer => Buffer.from(`${s}\0`, 'utf16le');

const XDP = '580bbdea-b364-4369-b291-d3539e35d20b';
const EBPF = '394f321c-5cf4-404c-aa34-4df1428a7f9c';
const PROG_GUID = 'f1832a85-85d5-45b0-98a0-7069d63013b0';

test('GUIDs round-trip between registry form and their 16 bytes (Data1-3 little-endian)', () => {
  const b = guidBytes(XDP);
  assert.equal(b.toString('hex'), 'eabd0b5864b36943b291d3539e35d20b');
  assert.equal(guidString(b), XDP);
  assert.throws(() => guidBytes('not-a-guid'), EtwDecodeError);
});

test('manifest event (XDP-for-Windows style): header, names from tdh, integers, UTF-16 string, GUID, boolean, pointer, 64-bit beyond 2^53', () => {
  const payload = Buffer.concat([u32(7), u16(3), wstr('Ethernet 4'), i32(-2), u64(2n ** 60n + 5n), guidBytes(PROG_GUID), u32(1), u64(0xffffd00012345678n)]);
  const rec = record({ provider: XDP, id: 5, version: 1, level: 4, opcode: 10, task: 3, keyword: 0x8000000000000001n, userDataLength: payload.length });
  const inf = info({
    source: 0, provider: XDP, providerName: 'Microsoft-XDP', task: 'Program', opcode: 'Attach', level: 'Information', top: 8,
    props: [
      { name: 'IfIndex', inType: InType.UINT32 }, { name: 'QueueId', inType: InType.UINT16 }, { name: 'IfName', inType: InType.UNICODESTRING },
      { name: 'Status', inType: InType.INT32 }, { name: 'ProgramId', inType: InType.UINT64 }, { name: 'ProgramType', inType: InType.GUID },
      { name: 'Enabled', inType: InType.BOOLEAN }, { name: 'Hook', inType: InType.POINTER },
    ],
  });
  const e = decodeEtwEvent(rec, payload, inf);
  assert.deepEqual(e, {
    provider: XDP, id: 5, version: 1, level: 4, opcode: 10, task: 3, keyword: '0x8000000000000001',
    time: '2026-12-05T00:30:00.123Z', pid: 777, tid: 4242,
    providerName: 'Microsoft-XDP', eventName: null, taskName: 'Program', opcodeName: 'Attach', levelName: 'Information', decoding: 'manifest',
    properties: {
      IfIndex: 7, QueueId: 3, IfName: 'Ethernet 4', Status: -2, ProgramId: (2n ** 60n + 5n).toString(), ProgramType: PROG_GUID,
      Enabled: true, Hook: '0xffffd00012345678',
    },
  });
});

test('TraceLogging event (eBPF-for-Windows style): event name, ANSI string, hex, binary sized by an earlier field, counted array, struct, FILETIME, SID, double', () => {
  const sid = Buffer.from([1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 32, 2, 0, 0]); // S-1-5-32-544
  const payload = Buffer.concat([
    Buffer.from('Hello, world\0', 'latin1'), u32(0xc0000001), u16(3), Buffer.from([0xde, 0xad, 0xbe]), u16(2), u32(10), u32(20),
    u16(80), u32(0x0100007f), u64(FILETIME_2026), sid, (() => { const b = Buffer.alloc(8); b.writeDoubleLE(0.25); return b; })(),
  ]);
  const rec = record({ provider: EBPF, id: 0, version: 0, level: 4, opcode: 0, task: 0, keyword: 0x200n, userDataLength: payload.length });
  const inf = info({
    source: 3, provider: EBPF, providerName: 'EbpfForWindowsProvider', eventName: 'EbpfGenericMessage', top: 10,
    props: [
      /* 0 */ { name: 'Message', inType: InType.ANSISTRING },
      /* 1 */ { name: 'Status', inType: InType.HEXINT32 },
      /* 2 */ { name: 'DataLength', inType: InType.UINT16 },
      /* 3 */ { name: 'Data', inType: InType.BINARY, flags: PropertyFlag.ParamLength, length: 2 },
      /* 4 */ { name: 'Count', inType: InType.UINT16 },
      /* 5 */ { name: 'Values', inType: InType.UINT32, flags: PropertyFlag.ParamCount, count: 4 },
      /* 6 */ { name: 'Endpoint', flags: PropertyFlag.Struct, structStart: 10, members: 2 },
      /* 7 */ { name: 'When', inType: InType.FILETIME },
      /* 8 */ { name: 'Sid', inType: InType.SID },
      /* 9 */ { name: 'Ratio', inType: InType.DOUBLE },
      /* 10 */ { name: 'Port', inType: InType.UINT16 },
      /* 11 */ { name: 'Address', inType: InType.HEXINT32 },
    ],
  });
  const e = decodeEtwEvent(rec, payload, inf);
  assert.equal(e.decoding, 'tracelogging');
  assert.equal(e.eventName, 'EbpfGenericMessage');
  assert.equal(e.providerName, 'EbpfForWindowsProvider');
  assert.equal(e.keyword, '0x200');
  assert.deepEqual(e.properties, {
    Message: 'Hello, world', Status: '0xc0000001', DataLength: 3, Data: 'deadbe', Count: 2, Values: [10, 20],
    Endpoint: { Port: 80, Address: '0x100007f' }, When: '2026-12-05T00:30:00.123Z', Sid: 'S-1-5-32-544', Ratio: 0.25,
  });
});

test('an event without a schema gives its payload as hex; a 32-bit header reads 4-byte pointers', () => {
  const rec = record({ provider: EBPF, id: 9, version: 0, level: 2, opcode: 0, task: 0, keyword: 0n, userDataLength: 3 });
  const e = decodeEtwEvent(rec, Buffer.from([1, 2, 3]), null);
  assert.equal(e.decoding, 'none');
  assert.deepEqual(e.properties, { payload: '010203' });
  const rec32 = record({ provider: EBPF, id: 1, version: 0, level: 4, opcode: 0, task: 0, keyword: 0n, flags: 0x20, userDataLength: 4 });
  const inf = info({ source: 3, provider: EBPF, providerName: 'p', eventName: 'e', top: 1, props: [{ name: 'Ptr', inType: InType.POINTER }] });
  assert.deepEqual(decodeEtwEvent(rec32, u32(0xbeef), inf).properties, { Ptr: '0xbeef' });
});

test('a payload shorter than its schema, an unterminated string and an unknown in-type fail by property name', () => {
  const rec = record({ provider: XDP, id: 1, version: 0, level: 4, opcode: 0, task: 0, keyword: 0n, userDataLength: 2 });
  const one = (p: PropSpec): Buffer => info({ source: 0, provider: XDP, providerName: 'x', top: 1, props: [p] });
  assert.throws(() => decodeEtwEvent(rec, u16(1), one({ name: 'IfIndex', inType: InType.UINT32 })), /IfIndex: needs 4 bytes at 0, payload has 2/);
  assert.throws(() => decodeEtwEvent(rec, Buffer.from('ab', 'utf16le'), one({ name: 'Name', inType: InType.UNICODESTRING })), /Name: UTF-16 string without its terminating NUL/);
  assert.throws(() => decodeEtwEvent(rec, u16(1), one({ name: 'Odd', inType: 99 })), /Odd: in-type 99 is not decoded/);
  assert.throws(() => decodeEtwEvent(rec.subarray(0, 100), u16(1), null), /EVENT_RECORD is 112 bytes, got 100/);
});
