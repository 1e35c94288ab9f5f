/**
 * Decoding of ETW events as a real-time consumer receives them: an EVENT_RECORD (evntcons.h, 112
 * bytes on x64), its UserData, and the TRACE_EVENT_INFO that tdh's TdhGetEventInformation returns
 * for it (tdh.h), for manifest-based and TraceLogging events alike. Pure Buffer work, so it is
 * tested on records built byte for byte on any OS; the consumer (bpf/win32/etw.ts) copies the
 * three buffers out of Windows' memory and hands them here. Offsets are x64's, checked against
 * mingw-w64's headers by test/windows/layout.test.ts.
 */

/** Offsets of EVENT_RECORD (EVENT_HEADER at 0, 80 bytes). */
export const EVENT_RECORD = {
  size: 112, Size: 0, HeaderType: 2, Flags: 4, EventProperty: 6, ThreadId: 8, ProcessId: 12, TimeStamp: 16, ProviderId: 24,
  Id: 40, Version: 42, Channel: 43, Level: 44, Opcode: 45, Task: 46, Keyword: 48, ActivityId: 64,
  ProcessorNumber: 80, LoggerId: 82, ExtendedDataCount: 84, UserDataLength: 86, ExtendedData: 88, UserData: 96, UserContext: 104,
} as const;

/** Offsets of TRACE_EVENT_INFO (136 bytes with one EVENT_PROPERTY_INFO of 24). */
export const TRACE_EVENT_INFO = {
  size: 136, ProviderGuid: 0, EventGuid: 16, EventDescriptor: 32, DecodingSource: 48, ProviderNameOffset: 52, LevelNameOffset: 56,
  ChannelNameOffset: 60, KeywordsNameOffset: 64, TaskNameOffset: 68, OpcodeNameOffset: 72, EventMessageOffset: 76,
  ProviderMessageOffset: 80, BinaryXMLOffset: 84, BinaryXMLSize: 88, EventNameOffset: 92, EventAttributesOffset: 96,
  PropertyCount: 100, TopLevelPropertyCount: 104, Flags: 108, EventPropertyInfoArray: 112,
} as const;

/** Offsets of EVENT_PROPERTY_INFO (24 bytes). */
export const EVENT_PROPERTY_INFO = {
  size: 24, Flags: 0, NameOffset: 4, InType: 8, OutType: 10, MapNameOffset: 12, StructStartIndex: 8, NumOfStructMembers: 10,
  count: 16, length: 18, Tags: 20,
} as const;

/** PROPERTY_FLAGS (tdh.h). */
export const PropertyFlag = { Struct: 0x1, ParamLength: 0x2, ParamCount: 0x4, WBEMXmlFragment: 0x8, ParamFixedLength: 0x10, ParamFixedCount: 0x20 } as const;
/** EVENT_HEADER_FLAG_32_BIT_HEADER: pointers in the payload are 4 bytes. */
const FLAG_32_BIT = 0x20;
/** TDH_INTYPE_* values (tdh.h). */
export const InType = {
  NULL: 0, UNICODESTRING: 1, ANSISTRING: 2, INT8: 3, UINT8: 4, INT16: 5, UINT16: 6, INT32: 7, UINT32: 8, INT64: 9, UINT64: 10,
  FLOAT: 11, DOUBLE: 12, BOOLEAN: 13, BINARY: 14, GUID: 15, POINTER: 16, FILETIME: 17, SYSTEMTIME: 18, SID: 19, HEXINT32: 20,
  HEXINT64: 21, COUNTEDSTRING: 22, COUNTEDANSISTRING: 23,
} as const;
/** DECODING_SOURCE names. */
const SOURCES = ['manifest', 'wbem', 'wpp', 'tracelogging'] as const;

/** A property value as JSON can carry it (64-bit integers beyond 2^53 as decimal strings). */
export type EtwValue = string | number | boolean | null | EtwValue[] | { [k: string]: EtwValue };

/** One decoded event. */
export interface EtwEvent {
  readonly provider: string;
  readonly providerName: string | null;
  readonly eventName: string | null;
  readonly taskName: string | null;
  readonly opcodeName: string | null;
  readonly levelName: string | null;
  readonly id: number;
  readonly version: number;
  readonly level: number;
  readonly opcode: number;
  readonly task: number;
  readonly keyword: string;
  readonly time: string;
  readonly pid: number;
  readonly tid: number;
  /** manifest, tracelogging, wbem, wpp, or none (no schema: the payload is given as hex). */
  readonly decoding: (typeof SOURCES)[number] | 'none' | `source_${number}`;
  readonly properties: Record<string, EtwValue>;
}

/** A payload that does not match its schema. */
export class EtwDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EtwDecodeError';
  }
}

/** GUID in registry form from its 16 bytes (Data1-3 little-endian). */
export function guidString(b: Buffer, at = 0): string {
  if (at + 16 > b.length) throw new EtwDecodeError(`GUID at ${at} runs past ${b.length} bytes`);
  const h = (n: number, w: number): string => n.toString(16).padStart(w, '0');
  const d4 = b.subarray(at + 8, at + 16).toString('hex');
  return `${h(b.readUInt32LE(at), 8)}-${h(b.readUInt16LE(at + 4), 4)}-${h(b.readUInt16LE(at + 6), 4)}-${d4.slice(0, 4)}-${d4.slice(4)}`;
}

/** The 16 bytes of a GUID written in registry form. */
export function guidBytes(guid: string): Buffer {
  const m = /^\{?([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})\}?$/i.exec(guid);
  if (!m) throw new EtwDecodeError(`'${guid}' is not a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)`);
  const b = Buffer.alloc(16);
  b.writeUInt32LE(Number.parseInt(m[1]!, 16), 0);
  b.writeUInt16LE(Number.parseInt(m[2]!, 16), 4);
  b.writeUInt16LE(Number.parseInt(m[3]!, 16), 6);
  Buffer.from(m[4]! + m[5]!, 'hex').copy(b, 8);
  return b;
}

/** FILETIME (100 ns since 1601-01-01 UTC) as an ISO time. */
export function filetimeIso(ft: bigint): string {
  const ms = Number(ft / 10_000n) - 11_644_473_600_000;
  return new Date(ms).toISOString();
}

/** A NUL-terminated UTF-16LE string at `offset` of `b` (offset 0 = none). */
function infoString(b: Buffer, offset: number): string | null {
  if (offset === 0 || offset >= b.length) return null;
  let end = offset;
  while (end + 1 < b.length && b.readUInt16LE(end) !== 0) end += 2;
  return b.toString('utf16le', offset, end);
}

function int64(v: bigint): number | string {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v.toString();
}

interface Prop {
  readonly flags: number;
  readonly name: string;
  readonly inType: number;
  readonly structStart: number;
  readonly structMembers: number;
  readonly count: number;
  readonly length: number;
}

function readProps(info: Buffer): Prop[] {
  const n = info.readUInt32LE(TRACE_EVENT_INFO.PropertyCount);
  const props: Prop[] = [];
  for (let i = 0; i < n; i++) {
    const at = TRACE_EVENT_INFO.EventPropertyInfoArray + i * EVENT_PROPERTY_INFO.size;
    if (at + EVENT_PROPERTY_INFO.size > info.length) throw new EtwDecodeError(`TRACE_EVENT_INFO claims ${n} properties but holds ${i}`);
    props.push({
      flags: info.readUInt32LE(at + EVENT_PROPERTY_INFO.Flags),
      name: infoString(info, info.readUInt32LE(at + EVENT_PROPERTY_INFO.NameOffset)) ?? `property${i}`,
      inType: info.readUInt16LE(at + EVENT_PROPERTY_INFO.InType),
      structStart: info.readUInt16LE(at + EVENT_PROPERTY_INFO.StructStartIndex),
      structMembers: info.readUInt16LE(at + EVENT_PROPERTY_INFO.NumOfStructMembers),
      count: info.readUInt16LE(at + EVENT_PROPERTY_INFO.count),
      length: info.readUInt16LE(at + EVENT_PROPERTY_INFO.length),
    });
  }
  return props;
}

/** Reads the payload property by property, as tdh's schema says. */
class PayloadReader {
  at = 0;
  readonly values: EtwValue[] = [];
  constructor(readonly data: Buffer, readonly props: Prop[], readonly ptrSize: 4 | 8) {}

  need(n: number, what: string): void {
    if (this.at + n > this.data.length) throw new EtwDecodeError(`${what}: needs ${n} bytes at ${this.at}, payload has ${this.data.length}`);
  }

  /** A count or length taken from an earlier property's value. */
  param(index: number, what: string): number {
    const v = this.values[index];
    if (typeof v !== 'number') throw new EtwDecodeError(`${what} refers to property ${index}, which is not a decoded integer`);
    return v;
  }

  scalar(p: Prop, length: number): EtwValue {
    const d = this.data;
    const fixed = (n: number): number => {
      this.need(n, p.name);
      const at = this.at;
      this.at += n;
      return at;
    };
    switch (p.inType) {
      case InType.UNICODESTRING: {
        if (length > 0) { const at = fixed(length * 2); return d.toString('utf16le', at, at + length * 2).replace(/\0+$/, ''); }
        let end = this.at;
        while (end + 1 < d.length && d.readUInt16LE(end) !== 0) end += 2;
        if (end + 1 >= d.length) throw new EtwDecodeError(`${p.name}: UTF-16 string without its terminating NUL`);
        const s = d.toString('utf16le', this.at, end);
        this.at = end + 2;
        return s;
      }
      case InType.ANSISTRING: {
        if (length > 0) { const at = fixed(length); return d.toString('latin1', at, at + length).replace(/\0+$/, ''); }
        const end = d.indexOf(0, this.at);
        if (end < 0) throw new EtwDecodeError(`${p.name}: string without its terminating NUL`);
        const s = d.toString('latin1', this.at, end);
        this.at = end + 1;
        return s;
      }
      case InType.COUNTEDSTRING: { const n = d.readUInt16LE(fixed(2)); const at = fixed(n); return d.toString('utf16le', at, at + n); }
      case InType.COUNTEDANSISTRING: { const n = d.readUInt16LE(fixed(2)); const at = fixed(n); return d.toString('latin1', at, at + n); }
      case InType.INT8: return d.readInt8(fixed(1));
      case InType.UINT8: return d.readUInt8(fixed(1));
      case InType.INT16: return d.readInt16LE(fixed(2));
      case InType.UINT16: return d.readUInt16LE(fixed(2));
      case InType.INT32: return d.readInt32LE(fixed(4));
      case InType.UINT32: return d.readUInt32LE(fixed(4));
      case InType.HEXINT32: return `0x${d.readUInt32LE(fixed(4)).toString(16)}`;
      case InType.INT64: return int64(d.readBigInt64LE(fixed(8)));
      case InType.UINT64: return int64(d.readBigUInt64LE(fixed(8)));
      case InType.HEXINT64: return `0x${d.readBigUInt64LE(fixed(8)).toString(16)}`;
      case InType.FLOAT: return d.readFloatLE(fixed(4));
      case InType.DOUBLE: return d.readDoubleLE(fixed(8));
      case InType.BOOLEAN: return d.readUInt32LE(fixed(4)) !== 0;
      case InType.POINTER: return this.ptrSize === 8 ? `0x${d.readBigUInt64LE(fixed(8)).toString(16)}` : `0x${d.readUInt32LE(fixed(4)).toString(16)}`;
      case InType.GUID: return guidString(d, fixed(16));
      case InType.FILETIME: return filetimeIso(d.readBigUInt64LE(fixed(8)));
      case InType.SYSTEMTIME: {
        const at = fixed(16);
        const w = (i: number): number => d.readUInt16LE(at + i * 2);
        return new Date(Date.UTC(w(0), w(1) - 1, w(3), w(4), w(5), w(6), w(7))).toISOString();
      }
      case InType.BINARY: { const at = fixed(length); return d.subarray(at, at + length).toString('hex'); }
      case InType.SID: {
        this.need(8, p.name);
        const subs = d.readUInt8(this.at + 1);
        const at = fixed(8 + 4 * subs);
        const authority = d.readUIntBE(at + 2, 6);
        const parts = Array.from({ length: subs }, (_, i) => d.readUInt32LE(at + 8 + 4 * i));
        return `S-${d.readUInt8(at)}-${authority}${parts.map((x) => `-${x}`).join('')}`;
      }
      default:
        throw new EtwDecodeError(`${p.name}: in-type ${p.inType} is not decoded`);
    }
  }

  one(index: number): EtwValue {
    const p = this.props[index]!;
    if (p.flags & PropertyFlag.Struct) {
      const out: Record<string, EtwValue> = {};
      for (let m = p.structStart; m < p.structStart + p.structMembers; m++) out[this.props[m]!.name] = this.one(m);
      return out;
    }
    const length = p.flags & PropertyFlag.ParamLength ? this.param(p.length, `${p.name}'s length`) : p.length;
    if (p.inType === InType.BINARY && length === 0 && !(p.flags & PropertyFlag.ParamLength)) {
      // a binary without a length takes the rest of the payload
      const rest = this.data.subarray(this.at).toString('hex');
      this.at = this.data.length;
      return rest;
    }
    return this.scalar(p, length);
  }

  /** Decodes top-level property `index` (an array when its count says so). */
  top(index: number): EtwValue {
    const p = this.props[index]!;
    const isArray = (p.flags & (PropertyFlag.ParamCount | PropertyFlag.ParamFixedCount)) !== 0 || p.count > 1;
    if (!isArray) return this.one(index);
    const n = p.flags & PropertyFlag.ParamCount ? this.param(p.count, `${p.name}'s count`) : p.count;
    return Array.from({ length: n }, () => this.one(index));
  }
}

/**
 * Decodes one event. `record` is the 112-byte EVENT_RECORD, `userData` its payload, `info` the
 * TRACE_EVENT_INFO tdh returned (null when tdh has no schema: the payload is given as hex).
 */
export function decodeEtwEvent(record: Buffer, userData: Buffer, info: Buffer | null): EtwEvent {
  if (record.length < EVENT_RECORD.size) throw new EtwDecodeError(`EVENT_RECORD is ${EVENT_RECORD.size} bytes, got ${record.length}`);
  const R = EVENT_RECORD;
  const head = {
    provider: guidString(record, R.ProviderId),
    id: record.readUInt16LE(R.Id), version: record.readUInt8(R.Version), level: record.readUInt8(R.Level),
    opcode: record.readUInt8(R.Opcode), task: record.readUInt16LE(R.Task),
    keyword: `0x${record.readBigUInt64LE(R.Keyword).toString(16)}`,
    time: filetimeIso(record.readBigUInt64LE(R.TimeStamp)),
    pid: record.readUInt32LE(R.ProcessId), tid: record.readUInt32LE(R.ThreadId),
  };
  if (info === null) {
    return { ...head, providerName: null, eventName: null, taskName: null, opcodeName: null, levelName: null, decoding: 'none', properties: { payload: userData.toString('hex') } };
  }
  if (info.length < TRACE_EVENT_INFO.EventPropertyInfoArray) throw new EtwDecodeError(`TRACE_EVENT_INFO of ${info.length} bytes is too short`);
  const T = TRACE_EVENT_INFO;
  const src = info.readUInt32LE(T.DecodingSource);
  const props = readProps(info);
  const top = info.readUInt32LE(T.TopLevelPropertyCount);
  const reader = new PayloadReader(userData, props, record.readUInt16LE(R.Flags) & FLAG_32_BIT ? 4 : 8);
  const properties: Record<string, EtwValue> = {};
  for (let i = 0; i < top; i++) {
    const v = reader.top(i);
    reader.values[i] = v;
    properties[props[i]!.name] = v;
  }
  return {
    ...head,
    providerName: infoString(info, info.readUInt32LE(T.ProviderNameOffset)),
    eventName: infoString(info, info.readUInt32LE(T.EventNameOffset)),
    taskName: infoString(info, info.readUInt32LE(T.TaskNameOffset)),
    opcodeName: infoString(info, info.readUInt32LE(T.OpcodeNameOffset)),
    levelName: infoString(info, info.readUInt32LE(T.LevelNameOffset)),
    decoding: SOURCES[src] ?? `source_${src}`,
    properties,
  };
}
