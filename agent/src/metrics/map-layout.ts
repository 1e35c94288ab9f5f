/**
 * Byte layouts of map keys and values as flat lists of leaf fields (path, offset, size, how to
 * print it), from the map's BTF or from a typed key schema as L3AF's open work writes it
 * (l3afd PR #661 `FieldSchema`: uint8/16/32/64, ipv4, struct, array, laid out with C alignment).
 *
 * Printing: unsigned/signed integers of 1-8 bytes in host order as decimal; `__be16` (and any
 * `format: "port"`) byte-swapped to the host number; `__be32` and `ipv4` dotted quad; 16-byte
 * arrays with `format: "ipv6"` (or a `struct in6_addr`) as IPv6; `char` arrays up to the first NUL;
 * other byte arrays hex.
 */
import { endianness } from 'node:os';
import type { BtfType, BtfTypes } from '../bpf/btf-decoder.ts';
import type { FieldSchema } from '../payload/index.ts';

export type LeafFormat = 'int' | 'sint' | 'be' | 'ipv4' | 'ipv6' | 'port' | 'hex' | 'string';

/** One scalar field at a fixed offset. */
export interface Leaf {
  /** `a.b[2].c`; '' for a scalar root. */
  readonly path: string;
  readonly off: number;
  readonly size: number;
  readonly format: LeafFormat;
}

export interface Layout {
  readonly size: number;
  readonly leaves: readonly Leaf[];
  /** Whether the root is a scalar (one leaf with path ''). */
  readonly scalar: boolean;
}

const LE = endianness() === 'LE';
const MAX_LEAVES = 1024;

/** The layout of a BTF type. */
export function btfLayout(bt: BtfTypes, typeId: number): Layout {
  const leaves: Leaf[] = [];
  const root = bt.get(typeId);
  const walk = (id: number, path: string, off: number, depth: number, typedef: string | undefined): void => {
    if (leaves.length >= MAX_LEAVES) throw new RangeError(`map type has more than ${MAX_LEAVES} fields`);
    let t: BtfType = bt.get(id);
    let td = typedef;
    for (let i = 0; i < 32 && ['TYPEDEF', 'CONST', 'VOLATILE', 'RESTRICT', 'TYPE_TAG'].includes(t.kind); i++) {
      if (t.kind === 'TYPEDEF') td ??= t.name;
      t = bt.get(t.type_id!);
    }
    const size = bt.sizeOf(t);
    switch (t.kind) {
      case 'INT':
      case 'ENUM':
      case 'ENUM64': {
        let format: LeafFormat = t.encoding === 'SIGNED' ? 'sint' : 'int';
        if (td === '__be16') format = 'port';
        else if (td === '__be32') format = 'ipv4';
        else if (td === '__be64') format = 'be';
        leaves.push({ path, off, size, format });
        return;
      }
      case 'ARRAY': {
        const elem = bt.resolve(t.type_id!);
        const es = bt.sizeOf(elem);
        if (elem.kind === 'INT' && es === 1) {
          const isChar = elem.name === 'char' || elem.encoding === 'CHAR';
          leaves.push({ path, off, size, format: isChar ? 'string' : size === 16 && /in6|ip6|ipv6|addr6/i.test(path) ? 'ipv6' : 'hex' });
          return;
        }
        for (let i = 0; i < t.nr_elems!; i++) walk(t.type_id!, `${path}[${i}]`, off + i * es, depth + 1, undefined);
        return;
      }
      case 'STRUCT':
      case 'UNION': {
        if (t.name === 'in6_addr') {
          leaves.push({ path, off, size, format: 'ipv6' });
          return;
        }
        if (depth > 8) {
          leaves.push({ path, off, size, format: 'hex' });
          return;
        }
        (t.members ?? []).forEach((m, i) => {
          if (m.bitfield_size || m.bits_offset % 8 !== 0) return; // bitfields: not labels
          const name = m.name === '' || m.name === '(anon)' ? `_${i}` : m.name;
          walk(m.type_id, path === '' ? name : `${path}.${name}`, off + m.bits_offset / 8, depth + 1, undefined);
        });
        return;
      }
      default:
        leaves.push({ path, off, size, format: 'hex' });
    }
  };
  walk(typeId, '', 0, 0, undefined);
  const rootResolved = bt.resolve(typeId);
  return { size: bt.sizeOf(rootResolved), leaves, scalar: leaves.length === 1 && leaves[0]!.path === '' && root !== undefined };
}

/** A plain integer layout (maps without BTF): the whole key or value as one unsigned integer or hex. */
export function intLayout(size: number): Layout {
  return { size, leaves: [{ path: '', off: 0, size, format: [1, 2, 4, 8].includes(size) ? 'int' : 'hex' }], scalar: true };
}

const SCHEMA_SIZES: Record<string, number> = { uint8: 1, uint16: 2, uint32: 4, uint64: 8, ipv4: 4 };

interface SchemaNode { readonly size: number; readonly align: number; write(b: Buffer, off: number): void; leaves(path: string, off: number, out: Leaf[]): void }

function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

/** Compiles a PR #661 field schema: its layout and its encoded bytes (the key it names). */
export function compileFieldSchema(schema: FieldSchema): { layout: Layout; bytes: Buffer } {
  const node = schemaNode(schema, 'key', 0);
  const bytes = Buffer.alloc(node.size);
  node.write(bytes, 0);
  const leaves: Leaf[] = [];
  node.leaves('', 0, leaves);
  return { layout: { size: node.size, leaves, scalar: schema.type !== 'struct' && schema.type !== 'array' }, bytes };
}

function schemaNode(raw: unknown, where: string, depth: number): SchemaNode {
  if (depth > 8) throw new RangeError(`${where}: typed key nested deeper than 8`);
  if (typeof raw !== 'object' || raw === null) throw new RangeError(`${where}: a field schema is an object {name, type, …}`);
  const s = raw as FieldSchema;
  const scalarSize = SCHEMA_SIZES[s.type];
  if (scalarSize !== undefined) {
    let v = 0n;
    if (s.type === 'ipv4') {
      if (s.value !== undefined) {
        if (typeof s.value !== 'string' || !/^\d{1,3}(\.\d{1,3}){3}$/.test(s.value)) throw new RangeError(`${where}: ipv4 value must be a dotted quad, got ${JSON.stringify(s.value)}`);
        const b = Buffer.from(s.value.split('.').map(Number));
        v = BigInt(b.readUInt32LE(0)); // network order bytes, stored as they are
      }
      return {
        size: 4, align: 4,
        write: (b, off) => b.writeUInt32LE(Number(v), off),
        leaves: (path, off, out) => out.push({ path, off, size: 4, format: 'ipv4' }),
      };
    }
    if (s.value !== undefined) {
      if (typeof s.value !== 'number' || !Number.isInteger(s.value) || s.value < 0) throw new RangeError(`${where}: ${s.type} value must be a non-negative integer`);
      v = BigInt(s.value);
      if (v >= 1n << BigInt(8 * scalarSize)) throw new RangeError(`${where}: ${s.value} does not fit ${s.type}`);
    }
    return {
      size: scalarSize, align: scalarSize,
      write: (b, off) => writeUintHost(b, off, scalarSize, v),
      leaves: (path, off, out) => out.push({ path, off, size: scalarSize, format: 'int' }),
    };
  }
  if (s.type === 'struct') {
    const fields = (s.fields ?? []).map((f, i) => ({ node: schemaNode(f, `${where}.fields[${i}]`, depth + 1), name: (f as FieldSchema).name ?? `_${i}` }));
    if (fields.length === 0) throw new RangeError(`${where}: struct without fields`);
    let off = 0;
    const offs: number[] = [];
    for (const f of fields) {
      off = alignUp(off, f.node.align);
      offs.push(off);
      off += f.node.size;
    }
    const align = Math.max(...fields.map((f) => f.node.align));
    return {
      size: alignUp(off, align), align,
      write: (b, o) => fields.forEach((f, i) => f.node.write(b, o + offs[i]!)),
      leaves: (path, o, out) => fields.forEach((f, i) => f.node.leaves(path === '' ? f.name : `${path}.${f.name}`, o + offs[i]!, out)),
    };
  }
  if (s.type === 'array') {
    if (s.elem === undefined) throw new RangeError(`${where}: array needs elem`);
    const values = s.value === undefined ? undefined : s.value;
    if (values !== undefined && !Array.isArray(values)) throw new RangeError(`${where}: array value must be a list`);
    const n = values ? values.length : (s.length ?? 0);
    const elems = Array.from({ length: n }, (_, i) => schemaNode({ ...(s.elem as object), ...(values ? { value: values[i] } : {}) }, `${where}[${i}]`, depth + 1));
    const es = elems[0]?.size ?? 0;
    return {
      size: es * n, align: elems[0]?.align ?? 1,
      write: (b, o) => elems.forEach((e, i) => e.write(b, o + i * es)),
      leaves: (path, o, out) => elems.forEach((e, i) => e.leaves(`${path}[${i}]`, o + i * es, out)),
    };
  }
  throw new RangeError(`${where}: unknown type ${JSON.stringify((s as { type: unknown }).type)}`);
}

function writeUintHost(b: Buffer, off: number, size: number, v: bigint): void {
  for (let i = 0; i < size; i++) b[off + (LE ? i : size - 1 - i)] = Number((v >> BigInt(8 * i)) & 0xffn);
}

/** Unsigned integer of 1-8 bytes in host order. */
export function readUintHost(b: Buffer, off: number, size: number): bigint {
  let v = 0n;
  for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[off + (LE ? i : size - 1 - i)]!);
  return v;
}

/** Encodes a non-negative integer as `size` bytes in host order (throws when it does not fit). */
export function encodeUint(v: bigint, size: number): Buffer {
  if (v < 0n || (size < 8 && v >= 1n << BigInt(8 * size))) throw new RangeError(`key ${v} does not fit ${size} bytes`);
  const b = Buffer.alloc(size);
  writeUintHost(b, 0, size, v);
  return b;
}

/** The numeric value of a leaf (for values): integers as bigint, network-order ones swapped. */
export function leafNumber(b: Buffer, l: Leaf): bigint | undefined {
  if (l.size < 1 || l.size > 8) return undefined;
  switch (l.format) {
    case 'int': return readUintHost(b, l.off, l.size);
    case 'sint': return BigInt.asIntN(8 * l.size, readUintHost(b, l.off, l.size));
    case 'be': case 'port': return BigInt(`0x${b.toString('hex', l.off, l.off + l.size)}`);
    default: return undefined;
  }
}

/** A leaf as label text, in its own format or the one asked for. */
export function leafText(b: Buffer, l: Leaf, format?: string): string {
  const f = format ?? l.format;
  const bytes = b.subarray(l.off, l.off + l.size);
  switch (f) {
    case 'ipv4':
      return bytes.length === 4 ? [...bytes].join('.') : bytes.toString('hex');
    case 'ipv6': {
      if (bytes.length !== 16) return bytes.toString('hex');
      const groups: string[] = [];
      for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
      return compressV6(groups);
    }
    case 'port':
    case 'be':
      return bytes.length >= 1 && bytes.length <= 8 ? BigInt(`0x${bytes.toString('hex')}`).toString() : bytes.toString('hex');
    case 'string': {
      const nul = bytes.indexOf(0);
      return bytes.toString('latin1', 0, nul < 0 ? bytes.length : nul);
    }
    case 'hex':
      return bytes.toString('hex');
    case 'sint':
      return (leafNumber(b, l) ?? 0n).toString();
    default:
      return bytes.length >= 1 && bytes.length <= 8 ? readUintHost(b, l.off, l.size).toString() : bytes.toString('hex');
  }
}

function compressV6(groups: string[]): string {
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== '0') { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/** Parses an IPv4 or IPv6 address into its network-order bytes. */
export function parseAddress(s: string): Buffer | undefined {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(s)) {
    const parts = s.split('.').map(Number);
    return parts.every((p) => p <= 255) ? Buffer.from(parts) : undefined;
  }
  if (!s.includes(':')) return undefined;
  const [head, tail, more] = s.split('::');
  if (more !== undefined) return undefined;
  const h = head ? head.split(':') : [];
  const t = tail !== undefined ? (tail ? tail.split(':') : []) : [];
  const fill = tail !== undefined ? 8 - h.length - t.length : 0;
  if (fill < 0 || (tail === undefined && h.length !== 8)) return undefined;
  const groups = [...h, ...Array<string>(fill).fill('0'), ...t];
  if (groups.length !== 8 || !groups.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g))) return undefined;
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), 2 * i));
  return b;
}
