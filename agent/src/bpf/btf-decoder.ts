/**
 * Event records decoded field by field from BTF. The kernel layer has no BTF API, so the types
 * come from `bpftool -j btf dump` (of a loaded program's BTF id, or of an object file), run once
 * when a stream opens; each record is then decoded with precomputed offsets, no process per
 * event.
 *
 * Values: integers up to 32 bits and 64-bit ones within ±2^53 are JSON numbers, larger 64-bit
 * ones decimal strings; `_Bool` a boolean; enums the enumerator's name (the number when none
 * matches); `char` arrays a string up to the first NUL; other byte arrays lower-case hex; other
 * arrays JSON arrays; nested structs objects; unions every member read at offset 0; pointers
 * `0x…` strings; floats numbers; anything else hex.
 */
import { execFileSync } from 'node:child_process';
import { endianness } from 'node:os';

/** One type as `bpftool -j btf dump` prints it. */
export interface BtfType {
  readonly id: number;
  readonly kind: string;
  readonly name: string;
  readonly size?: number;
  readonly type_id?: number;
  readonly nr_elems?: number;
  readonly encoding?: string;
  readonly nr_bits?: number;
  readonly bits_offset?: number;
  readonly members?: ReadonlyArray<{ name: string; type_id: number; bits_offset: number; bitfield_size?: number }>;
  readonly values?: ReadonlyArray<{ name: string; val: number | string }>;
  readonly vars?: ReadonlyArray<{ type_id: number; offset: number; size: number }>;
}

/** The types of one BTF object, by id. */
export class BtfTypes {
  readonly #byId = new Map<number, BtfType>();

  constructor(types: readonly BtfType[]) {
    for (const t of types) this.#byId.set(t.id, t);
  }

  /** Types of a BTF object loaded in the kernel (needs CAP_SYS_ADMIN). */
  static ofId(btfId: number): BtfTypes {
    if (!Number.isInteger(btfId) || btfId <= 0) throw new RangeError(`no BTF (btf id ${btfId})`);
    return new BtfTypes(bpftoolJson<{ types: BtfType[] }>(['btf', 'dump', 'id', String(btfId)]).types);
  }

  /** Types of the BTF of a loaded program (the whole BTF of its object). */
  static ofProgram(progId: number): BtfTypes {
    const info = bpftoolJson<{ btf_id?: number }>(['prog', 'show', 'id', String(progId)]);
    if (!info.btf_id) throw new RangeError(`program id ${progId} was loaded without BTF`);
    return BtfTypes.ofId(info.btf_id);
  }

  /** Types of an ELF object file's .BTF section. */
  static ofFile(path: string): BtfTypes {
    return new BtfTypes(bpftoolJson<{ types: BtfType[] }>(['btf', 'dump', 'file', path]).types);
  }

  get(id: number): BtfType {
    const t = this.#byId.get(id);
    if (!t) throw new RangeError(`BTF type id ${id} does not exist`);
    return t;
  }

  /** The named struct (or union). */
  struct(name: string): BtfType {
    for (const t of this.#byId.values()) if ((t.kind === 'STRUCT' || t.kind === 'UNION') && t.name === name) return t;
    throw new RangeError(`struct ${name} is not in the program's BTF (a type used only inside inlined code is not emitted; reference it from a global, e.g. \`struct ${name} *${name}_btf __attribute__((unused));\`)`);
  }

  /**
   * The BTF value type a map was declared with (`__type(value, …)` in its `.maps` definition),
   * or undefined when it has none (ring buffers and perf event arrays declare none).
   */
  mapValueType(map: string): BtfType | undefined {
    for (const t of this.#byId.values()) {
      if (t.kind !== 'VAR' || t.name !== map || t.type_id === undefined) continue;
      const def = this.resolve(t.type_id);
      const value = def.members?.find((m) => m.name === 'value');
      if (!value) return undefined;
      const ptr = this.resolve(value.type_id);
      return ptr.kind === 'PTR' && ptr.type_id !== undefined ? this.resolve(ptr.type_id) : undefined;
    }
    return undefined;
  }

  /** Skips typedefs and qualifiers. */
  resolve(id: number): BtfType {
    let t = this.get(id);
    for (let i = 0; i < 32 && ['TYPEDEF', 'CONST', 'VOLATILE', 'RESTRICT', 'TYPE_TAG'].includes(t.kind); i++) t = this.get(t.type_id!);
    return t;
  }

  /** Size in bytes of a (resolved) type. */
  sizeOf(t: BtfType): number {
    if (t.kind === 'ARRAY') return t.nr_elems! * this.sizeOf(this.resolve(t.type_id!));
    if (t.kind === 'PTR') return 8;
    return t.size ?? 0;
  }
}

function bpftoolJson<T>(args: string[]): T {
  let out: string;
  try {
    out = execFileSync('bpftool', ['-j', ...args], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: string; code?: string; message: string };
    if (e.code === 'ENOENT') throw new Error('bpftool is not installed: BTF decoding of event records needs it');
    throw new Error(`bpftool ${args.join(' ')} failed: ${(e.stderr ?? '').trim() || e.message}`);
  }
  return JSON.parse(out) as T;
}

type Read = (b: Buffer, off: number) => unknown;
const LE = endianness() === 'LE';

const TWO32 = 4294967296;
/** |hi| below 2^21: hi·2^32 + lo is a safe integer. */
const SAFE_HI = 0x200000;

function intReader(size: number, signed: boolean, bool: boolean): Read {
  const num = (v: bigint): number | string => (v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString());
  let r: Read;
  switch (size) {
    case 1: r = signed ? (b, o) => b.readInt8(o) : (b, o) => b[o]!; break;
    case 2: r = signed ? (LE ? (b, o) => b.readInt16LE(o) : (b, o) => b.readInt16BE(o)) : (LE ? (b, o) => b.readUInt16LE(o) : (b, o) => b.readUInt16BE(o)); break;
    case 4: r = signed ? (LE ? (b, o) => b.readInt32LE(o) : (b, o) => b.readInt32BE(o)) : (LE ? (b, o) => b.readUInt32LE(o) : (b, o) => b.readUInt32BE(o)); break;
    case 8:
      // two 32-bit reads and a multiply while the value is a safe integer; BigInt (and a string) only beyond 2^53
      if (LE) {
        r = signed
          ? (b, o) => { const hi = b.readInt32LE(o + 4); return hi >= -SAFE_HI && hi < SAFE_HI ? hi * TWO32 + b.readUInt32LE(o) : num(b.readBigInt64LE(o)); }
          : (b, o) => { const hi = b.readUInt32LE(o + 4); return hi < SAFE_HI ? hi * TWO32 + b.readUInt32LE(o) : num(b.readBigUInt64LE(o)); };
      } else {
        r = signed ? (b, o) => num(b.readBigInt64BE(o)) : (b, o) => num(b.readBigUInt64BE(o));
      }
      break;
    default: return (b, o) => b.toString('hex', o, o + size);
  }
  return bool ? (b, o) => r(b, o) !== 0 : r;
}

/** Reads `bits` bits at bit offset `bitOff` of the storage unit at byte `o` (little-endian bit numbering on LE hosts). */
function bitfieldReader(bitOff: number, bits: number, signed: boolean): Read {
  const byte = Math.floor(bitOff / 8);
  const shift = bitOff % 8;
  const span = Math.ceil((shift + bits) / 8);
  if (LE && span <= 6 && bits <= 48) {
    // Number arithmetic (exact below 2^53): no BigInt per record
    const div = 2 ** shift;
    const mod = 2 ** bits;
    return (b, o) => {
      let v = 0;
      for (let i = span - 1; i >= 0; i--) v = v * 256 + b[o + byte + i]!;
      v = Math.floor(v / div) % mod;
      return signed && v >= mod / 2 ? v - mod : v;
    };
  }
  return (b, o) => {
    let v = 0n;
    for (let i = 0; i < span; i++) v |= BigInt(b[o + byte + i]!) << BigInt(LE ? 8 * i : 8 * (span - 1 - i));
    v = LE ? (v >> BigInt(shift)) & ((1n << BigInt(bits)) - 1n) : (v >> BigInt(8 * span - shift - bits)) & ((1n << BigInt(bits)) - 1n);
    if (signed && (v >> BigInt(bits - 1)) & 1n) v -= 1n << BigInt(bits);
    return Number(v);
  };
}

function readerOf(bt: BtfTypes, t: BtfType, depth: number): Read {
  if (depth > 8) return (b, o) => b.subarray(o, o + bt.sizeOf(t)).toString('hex');
  switch (t.kind) {
    case 'INT':
      return intReader(t.size!, t.encoding === 'SIGNED', t.encoding === 'BOOL');
    case 'ENUM':
    case 'ENUM64': {
      const names = new Map<unknown, string>((t.values ?? []).map((v) => [typeof v.val === 'number' ? v.val : Number.isSafeInteger(Number(v.val)) ? Number(v.val) : String(v.val), v.name]));
      const raw = intReader(t.size!, t.encoding === 'SIGNED', false);
      return (b, o) => {
        const v = raw(b, o);
        return names.get(v) ?? v;
      };
    }
    case 'FLOAT':
      if (t.size === 4) return LE ? (b, o) => b.readFloatLE(o) : (b, o) => b.readFloatBE(o);
      if (t.size === 8) return LE ? (b, o) => b.readDoubleLE(o) : (b, o) => b.readDoubleBE(o);
      return (b, o) => b.subarray(o, o + t.size!).toString('hex');
    case 'PTR':
      return LE ? (b, o) => `0x${b.readBigUInt64LE(o).toString(16)}` : (b, o) => `0x${b.readBigUInt64BE(o).toString(16)}`;
    case 'ARRAY': {
      const elem = bt.resolve(t.type_id!);
      const n = t.nr_elems!;
      const es = bt.sizeOf(elem);
      if (elem.kind === 'INT' && es === 1) {
        if (elem.name === 'char' || elem.encoding === 'CHAR') {
          return (b, o) => {
            let end = o;
            while (end < o + n && b[end] !== 0) end++;
            return b.toString('latin1', o, end);
          };
        }
        return (b, o) => b.toString('hex', o, o + n);
      }
      const r = readerOf(bt, elem, depth + 1);
      return (b, o) => Array.from({ length: n }, (_, i) => r(b, o + i * es));
    }
    case 'STRUCT':
    case 'UNION': {
      const fields = (t.members ?? []).map((m, i) => {
        const mt = bt.resolve(m.type_id);
        const name = m.name === '' || m.name === '(anon)' ? `_${i}` : m.name;
        if (m.bitfield_size) {
          return { name, off: 0, read: bitfieldReader(m.bits_offset, m.bitfield_size, mt.kind === 'INT' && mt.encoding === 'SIGNED') };
        }
        if (m.bits_offset % 8 !== 0) throw new RangeError(`member ${m.name} of ${t.name} is not byte-aligned`);
        return { name, off: m.bits_offset / 8, read: readerOf(bt, mt, depth + 1) };
      });
      const names = fields.map((f) => f.name);
      const offs = fields.map((f) => f.off);
      const reads = fields.map((f) => f.read);
      const n = fields.length;
      return (b, o) => {
        const out: Record<string, unknown> = {};
        for (let i = 0; i < n; i++) out[names[i]!] = reads[i]!(b, o + offs[i]!);
        return out;
      };
    }
    default:
      return (b, o) => b.subarray(o, o + bt.sizeOf(t)).toString('hex');
  }
}

/**
 * A decoder of records that are a `t` (a struct or union of `types`): record → JSON object.
 * Throws a RangeError for a record shorter than the type; extra bytes are ignored.
 */
export function btfDecoder(types: BtfTypes, t: BtfType): (record: Buffer) => object {
  if (t.kind !== 'STRUCT' && t.kind !== 'UNION') throw new RangeError(`BTF type ${t.name} is a ${t.kind}, not a struct`);
  const size = types.sizeOf(t);
  const read = readerOf(types, t, 0);
  const label = `${t.kind.toLowerCase()} ${t.name}`;
  return (record) => {
    if (record.length < size) throw new RangeError(`record is ${record.length} bytes, ${label} is ${size}`);
    return read(record, 0) as object;
  };
}

/** A raw record: its bytes in hex and its size. */
export function rawRecord(record: Buffer): { raw: string; size: number } {
  return { raw: record.toString('hex'), size: record.length };
}
