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

const ZEROS = ['', '0', '00', '000', '0000'];
/** `v` (0 ≤ v < 10^5) as exactly five digits. */
const five = (v: number): string => {
  const t = String(v);
  return ZEROS[5 - t.length]! + t;
};

/**
 * Decimal text of the unsigned 64-bit hi·2^32 + lo without BigInt: hi split in 16-bit halves,
 * 2^48 = 28147·10^10 + 4976710656, so both parts stay below 2^53; the low ten digits are printed
 * as two five-digit small integers (printing a heap number is the slow part).
 */
function u64Decimal(hi: number, lo: number): string {
  const hh = hi >>> 16;
  let low = hh * 4976710656 + (hi & 0xffff) * TWO32 + lo;
  const high = hh * 28147 + Math.floor(low / 1e10);
  low %= 1e10;
  const l1 = Math.floor(low / 100000);
  const l2 = low - l1 * 100000;
  if (high !== 0) return String(high) + five(l1) + five(l2);
  return l1 === 0 ? String(l2) : String(l1) + five(l2);
}

/** A 64-bit integer read as two 32-bit halves: a number while safe, else its decimal text. */
function int64Value(hi: number, lo: number, signed: boolean): number | string {
  if (!signed) return hi < SAFE_HI ? hi * TWO32 + lo : u64Decimal(hi, lo);
  const shi = hi | 0;
  if (shi >= -SAFE_HI && shi < SAFE_HI) return shi * TWO32 + lo;
  if (shi >= 0) return u64Decimal(hi, lo);
  // two's complement magnitude: ~x + 1 over both halves
  const nlo = (~lo >>> 0) + 1;
  return `-${u64Decimal(((~hi >>> 0) + (nlo > 0xffffffff ? 1 : 0)) >>> 0, nlo >>> 0)}`;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Lower-case hex of n bytes: a table walk for short runs (no call into C++), Buffer's for long ones. */
function hexOf(b: Buffer, o: number, n: number): string {
  if (n > 64) return b.toString('hex', o, o + n);
  let s = '';
  for (let i = 0; i < n; i++) s += HEX[b[o + i]!];
  return s;
}

/** A char array as a string up to its first NUL (latin1). */
function charsOf(b: Buffer, o: number, n: number): string {
  let end = o;
  while (end < o + n && b[end] !== 0) end++;
  if (end - o > 32) return b.toString('latin1', o, end);
  let s = '';
  for (let i = o; i < end; i++) s += String.fromCharCode(b[i]!);
  return s;
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

/**
 * Compiles a BTF type into one JavaScript function `(b, o) => value` (the way ajv and
 * fast-json-stringify compile schemas): a struct becomes one object literal, so every decoded
 * record has the same shape, and fixed-size integers are read inline at constant offsets. What is
 * not inline (64-bit integers, enums, strings, hex, bitfields) is a call to a helper in `h`.
 * Only numbers (offsets, sizes) and JSON-quoted member names reach the generated source.
 */
class DecoderCompiler {
  readonly helpers: unknown[] = [];

  constructor(private readonly bt: BtfTypes) {}

  #helper(f: unknown): string {
    this.helpers.push(f);
    return `h[${this.helpers.length - 1}]`;
  }

  /** An expression reading an integer of `size` bytes at `at` (a source expression), as a number where exact. */
  #int(size: number, signed: boolean, at: string): string {
    const byte = (i: number): string => `b[${at} + ${i}]`;
    if (!LE) {
      const m = { 1: signed ? 'readInt8' : 'readUInt8', 2: signed ? 'readInt16BE' : 'readUInt16BE', 4: signed ? 'readInt32BE' : 'readUInt32BE' }[size as 1 | 2 | 4];
      if (m) return `b.${m}(${at})`;
      if (size === 8) return `${this.#helper(int64Value)}(b.readUInt32BE(${at}), b.readUInt32BE(${at} + 4), ${signed})`;
      return `${this.#helper(hexOf)}(b, ${at}, ${size})`;
    }
    switch (size) {
      case 1: return signed ? `(${byte(0)} << 24 >> 24)` : byte(0);
      case 2: return signed ? `((${byte(0)} | ${byte(1)} << 8) << 16 >> 16)` : `(${byte(0)} | ${byte(1)} << 8)`;
      case 4: return signed ? `(${byte(0)} | ${byte(1)} << 8 | ${byte(2)} << 16 | ${byte(3)} << 24)` : `((${byte(0)} | ${byte(1)} << 8 | ${byte(2)} << 16) + ${byte(3)} * 16777216)`;
      case 8: {
        const u32 = (i: number): string => `((${byte(i)} | ${byte(i + 1)} << 8 | ${byte(i + 2)} << 16) + ${byte(i + 3)} * 16777216)`;
        // unsigned and below 2^53 (the common case) inline, through the function's scratch variable t
        if (!signed) return `(t = ${u32(4)}, t < ${SAFE_HI} ? t * ${TWO32} + ${u32(0)} : ${this.#helper(int64Value)}(t, ${u32(0)}, false))`;
        return `${this.#helper(int64Value)}(${u32(4)}, ${u32(0)}, true)`;
      }
      default: return `${this.#helper(hexOf)}(b, ${at}, ${size})`;
    }
  }

  /** An expression decoding type `t` at `at`. */
  expr(t: BtfType, at: string, depth: number): string {
    const bt = this.bt;
    if (depth > 8) return `${this.#helper(hexOf)}(b, ${at}, ${bt.sizeOf(t)})`;
    switch (t.kind) {
      case 'INT': {
        const e = this.#int(t.size!, t.encoding === 'SIGNED', at);
        return t.encoding === 'BOOL' ? `(${e} !== 0)` : e;
      }
      case 'ENUM':
      case 'ENUM64': {
        const names = new Map<unknown, string>((t.values ?? []).map((v) => [typeof v.val === 'number' ? v.val : Number.isSafeInteger(Number(v.val)) ? Number(v.val) : String(v.val), v.name]));
        const name = (v: unknown): unknown => names.get(v) ?? v;
        return `${this.#helper(name)}(${this.#int(t.size!, t.encoding === 'SIGNED', at)})`;
      }
      case 'FLOAT':
        if (t.size === 4 || t.size === 8) return `b.read${t.size === 4 ? 'Float' : 'Double'}${LE ? 'LE' : 'BE'}(${at})`;
        return `${this.#helper(hexOf)}(b, ${at}, ${t.size!})`;
      case 'PTR':
        return `"0x" + b.readBigUInt64${LE ? 'LE' : 'BE'}(${at}).toString(16)`;
      case 'ARRAY': {
        const elem = bt.resolve(t.type_id!);
        const n = t.nr_elems!;
        const es = bt.sizeOf(elem);
        if (elem.kind === 'INT' && es === 1) {
          const chars = elem.name === 'char' || elem.encoding === 'CHAR';
          return `${this.#helper(chars ? charsOf : hexOf)}(b, ${at}, ${n})`;
        }
        if (n <= 16) return `[${Array.from({ length: n }, (_, i) => this.expr(elem, `${at} + ${i * es}`, depth + 1)).join(', ')}]`;
        const one = this.#helper(this.compile(elem, depth + 1));
        return `${this.#helper((b: Buffer, o: number, f: Read) => Array.from({ length: n }, (_, i) => f(b, o + i * es)))}(b, ${at}, ${one})`;
      }
      case 'STRUCT':
      case 'UNION': {
        const fields = (t.members ?? []).map((m, i) => {
          const mt = bt.resolve(m.type_id);
          const key = JSON.stringify(m.name === '' || m.name === '(anon)' ? `_${i}` : m.name);
          if (m.bitfield_size) {
            return `${key}: ${this.#helper(bitfieldReader(m.bits_offset, m.bitfield_size, mt.kind === 'INT' && mt.encoding === 'SIGNED'))}(b, ${at})`;
          }
          if (m.bits_offset % 8 !== 0) throw new RangeError(`member ${m.name} of ${t.name} is not byte-aligned`);
          return `${key}: ${this.expr(mt, `${at} + ${m.bits_offset / 8}`, depth + 1)}`;
        });
        return `{ ${fields.join(', ')} }`;
      }
      default:
        return `${this.#helper(hexOf)}(b, ${at}, ${bt.sizeOf(t)})`;
    }
  }

  /** `(b, o) => value` for type `t`. */
  compile(t: BtfType, depth = 0): Read {
    const body = `return ${this.expr(t, 'o', depth)};`;
    return new Function('h', `return function decode(b, o) { let t = 0; ${body} };`)(this.helpers) as Read;
  }
}

/**
 * A record decoder that can also read a record in place, inside a batch's bytes (`at`): no Buffer
 * view is made for it.
 */
export interface RecordDecoder {
  (record: Buffer): object;
  at(bytes: Buffer, offset: number, length: number): object;
}

/**
 * A decoder of records that are a `t` (a struct or union of `types`): record → JSON object.
 * Throws a RangeError for a record shorter than the type; extra bytes are ignored.
 */
export function btfDecoder(types: BtfTypes, t: BtfType): RecordDecoder {
  if (t.kind !== 'STRUCT' && t.kind !== 'UNION') throw new RangeError(`BTF type ${t.name} is a ${t.kind}, not a struct`);
  const size = types.sizeOf(t);
  const read = new DecoderCompiler(types).compile(t);
  const label = `${t.kind.toLowerCase()} ${t.name}`;
  const at = (bytes: Buffer, offset: number, length: number): object => {
    if (length < size) throw new RangeError(`record is ${length} bytes, ${label} is ${size}`);
    return read(bytes, offset) as object;
  };
  return Object.assign((record: Buffer) => at(record, 0, record.length), { at });
}

/** A raw record: its bytes in hex and its size. */
export function rawRecord(record: Buffer): { raw: string; size: number } {
  return { raw: record.toString('hex'), size: record.length };
}
