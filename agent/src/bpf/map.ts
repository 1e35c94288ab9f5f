/**
 * BPF maps: typed lookup, update, delete, key iteration, batch reads, per-CPU values, pins.
 * A map either belongs to a loaded object (its fd closes with the object) or owns its fd
 * (opened from a pin or an id) and closes it itself.
 */
import { C, closeFd, bpf_map_batch_opts, mapInfoType as bpf_map_info, koffi } from './ffi.ts';
import { BpfError, check } from './errors.ts';
import { mapTypeName, type MapType } from './platform.ts';
import { pinObject, openPinned } from './pin.ts';
import type { Codec } from './codec.ts';

export interface MapInfo {
  readonly id: number;
  readonly name: string;
  readonly type: MapType | `type_${number}`;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly flags: number;
  /** BTF object of the map's declaration (0 = none) and its key / value type ids in it. */
  readonly btfId: number;
  readonly btfKeyTypeId: number;
  readonly btfValueTypeId: number;
}

/** How an update treats an existing key (BPF_ANY / BPF_NOEXIST / BPF_EXIST). */
export type UpdateFlag = 'any' | 'noexist' | 'exist';
const UPDATE_FLAGS: Record<UpdateFlag, number> = { any: 0, noexist: 1, exist: 2 };

const PER_CPU_TYPES = new Set<string>(['percpu_hash', 'percpu_array', 'lru_percpu_hash']);
const BATCH_TYPES = new Set<string>(['hash', 'percpu_hash', 'lru_hash', 'lru_percpu_hash', 'array', 'percpu_array']);

let possibleCpus: number | undefined;
/** Number of possible CPUs: how many values a per-CPU map returns per key. */
export function possibleCpuCount(): number {
  possibleCpus ??= check(C.libbpf_num_possible_cpus() as number, 'libbpf_num_possible_cpus');
  return possibleCpus;
}

/** Reads the kernel's description of a map fd. */
export function mapInfoByFd(fd: number): MapInfo {
  const info: Record<string, unknown> = {};
  const len = new Uint32Array([koffi.sizeof(bpf_map_info)]);
  check(C.bpf_obj_get_info_by_fd_map(fd, info, len) as number, 'bpf_obj_get_info_by_fd', { fd });
  return {
    id: info.id as number,
    name: info.name as string,
    type: mapTypeName(info.type as number),
    keySize: info.key_size as number,
    valueSize: info.value_size as number,
    maxEntries: info.max_entries as number,
    flags: info.map_flags as number,
    btfId: (info.btf_id as number | undefined) ?? 0,
    btfKeyTypeId: (info.btf_key_type_id as number | undefined) ?? 0,
    btfValueTypeId: (info.btf_value_type_id as number | undefined) ?? 0,
  };
}

export class BpfMap implements Disposable {
  readonly name: string;
  readonly type: MapType | `type_${number}`;
  readonly id: number;
  readonly keySize: number;
  /** Size of one value (per CPU for per-CPU maps). */
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly flags: number;
  #fd: number;
  readonly #owned: boolean;
  #batchUnsupported = false;
  #batchUsed = false;

  /** @internal use {@link BpfMap.openPinned}, {@link BpfMap.fromId} or BpfObject.map(). */
  constructor(fd: number, owned: boolean, nameOverride?: string) {
    const info = mapInfoByFd(fd);
    this.#fd = fd;
    this.#owned = owned;
    this.name = nameOverride ?? info.name;
    this.type = info.type;
    this.id = info.id;
    this.keySize = info.keySize;
    this.valueSize = info.valueSize;
    this.maxEntries = info.maxEntries;
    this.flags = info.flags;
  }

  /** Opens a pinned map; the returned map owns its fd. */
  static openPinned(path: string): BpfMap {
    return new BpfMap(openPinned(path, 'map'), true);
  }

  /** Opens a map by kernel id; the returned map owns its fd. */
  static fromId(id: number): BpfMap {
    const fd = check(C.bpf_map_get_fd_by_id(id) as number, 'bpf_map_get_fd_by_id', { id });
    return new BpfMap(fd, true);
  }

  get fd(): number {
    if (this.#fd < 0) throw new BpfError({ op: 'map fd', subject: { map: this.name }, errno: 9, hint: 'map is closed' });
    return this.#fd;
  }

  /** Whether {@link entries} has read this map with BPF_MAP_LOOKUP_BATCH (false until it has). */
  get batchUsed(): boolean {
    return this.#batchUsed;
  }

  get perCpu(): boolean {
    return PER_CPU_TYPES.has(this.type);
  }

  /** Bytes a lookup returns: valueSize, or for per-CPU maps valueSize rounded to 8 × possible CPUs. */
  get valueBufferSize(): number {
    return this.perCpu ? roundUp8(this.valueSize) * possibleCpuCount() : this.valueSize;
  }

  /** The kernel's current description of this map. */
  info(): MapInfo {
    return mapInfoByFd(this.fd);
  }

  #key(key: Buffer): Buffer {
    if (key.length !== this.keySize) {
      throw new BpfError({ op: 'map key', subject: { map: this.name }, errno: 22, hint: `key is ${key.length} bytes, map wants ${this.keySize}` });
    }
    return key;
  }

  /** The value under `key`, or undefined when absent (per-CPU maps: all CPUs' values back to back). */
  lookup(key: Buffer): Buffer | undefined {
    const value = Buffer.alloc(this.valueBufferSize);
    const ret = C.bpf_map_lookup_elem(this.fd, this.#key(key), value) as number;
    if (ret === -2) return undefined;
    check(ret, 'bpf_map_lookup_elem', { map: this.name });
    return value;
  }

  /** Per-CPU maps: one value per possible CPU. */
  lookupPerCpu(key: Buffer): Buffer[] | undefined {
    if (!this.perCpu) throw new BpfError({ op: 'lookupPerCpu', subject: { map: this.name }, errno: 22, hint: `${this.type} is not a per-CPU map` });
    const all = this.lookup(key);
    return all === undefined ? undefined : splitPerCpu(all, this.valueSize);
  }

  /** Writes `value` under `key`. Per-CPU maps take one value (copied to every CPU) or all CPUs' values. */
  update(key: Buffer, value: Buffer, flag: UpdateFlag = 'any'): void {
    let v = value;
    if (this.perCpu && value.length === this.valueSize) {
      const stride = roundUp8(this.valueSize);
      v = Buffer.alloc(this.valueBufferSize);
      for (let cpu = 0; cpu < possibleCpuCount(); cpu++) value.copy(v, cpu * stride);
    } else if (value.length !== this.valueBufferSize) {
      throw new BpfError({ op: 'map value', subject: { map: this.name }, errno: 22, hint: `value is ${value.length} bytes, map wants ${this.valueBufferSize}` });
    }
    check(C.bpf_map_update_elem(this.fd, this.#key(key), v, UPDATE_FLAGS[flag]) as number, 'bpf_map_update_elem', { map: this.name });
  }

  /** Removes `key`; false when it was not there. */
  delete(key: Buffer): boolean {
    const ret = C.bpf_map_delete_elem(this.fd, this.#key(key)) as number;
    if (ret === -2) return false;
    check(ret, 'bpf_map_delete_elem', { map: this.name });
    return true;
  }

  /** Every key, in the kernel's iteration order. */
  *keys(): Generator<Buffer> {
    let prev: Buffer | null = null;
    for (;;) {
      const next = Buffer.alloc(this.keySize);
      const ret = C.bpf_map_get_next_key(this.fd, prev, next) as number;
      if (ret === -2) return;
      check(ret, 'bpf_map_get_next_key', { map: this.name });
      yield next;
      prev = next;
    }
  }

  /**
   * Every entry. Uses BPF_MAP_LOOKUP_BATCH where the kernel offers it for this map type (one
   * syscall per `batchSize` entries), else key iteration plus lookups.
   */
  entries(batchSize = 256): Array<[Buffer, Buffer]> {
    if (BATCH_TYPES.has(this.type) && !this.#batchUnsupported) {
      const out = this.#lookupBatch(batchSize);
      if (out !== undefined) return out;
    }
    const out: Array<[Buffer, Buffer]> = [];
    for (const k of this.keys()) {
      const v = this.lookup(k);
      if (v !== undefined) out.push([k, v]);
    }
    return out;
  }

  #lookupBatch(batchSize: number): Array<[Buffer, Buffer]> | undefined {
    const vsize = this.valueBufferSize;
    const keys = Buffer.alloc(this.keySize * batchSize);
    const values = Buffer.alloc(vsize * batchSize);
    const tokenSize = Math.max(this.keySize, 8);
    let inBatch: Buffer | null = null;
    const outBatch = Buffer.alloc(tokenSize);
    const out: Array<[Buffer, Buffer]> = [];
    const opts = { sz: koffi.sizeof(bpf_map_batch_opts), elem_flags: 0, flags: 0 };
    for (;;) {
      const count = new Uint32Array([batchSize]);
      const ret = C.bpf_map_lookup_batch(this.fd, inBatch, outBatch, keys, values, count, opts) as number;
      if (ret < 0 && ret !== -2) {
        if (ret === -22 || ret === -95 || ret === -524) {
          this.#batchUnsupported = true;
          return undefined;
        }
        check(ret, 'bpf_map_lookup_batch', { map: this.name });
      }
      const n = count[0] ?? 0;
      for (let i = 0; i < n; i++) {
        out.push([
          Buffer.from(keys.subarray(i * this.keySize, (i + 1) * this.keySize)),
          Buffer.from(values.subarray(i * vsize, (i + 1) * vsize)),
        ]);
      }
      this.#batchUsed = true;
      if (ret === -2) return out;
      inBatch = Buffer.from(outBatch);
    }
  }

  /** Pins the map at `path` (a bpffs file on Linux). */
  pin(path: string): void {
    pinObject(this.fd, path, { map: this.name });
  }

  /** A view of this map with typed keys and values. */
  typed<K, V>(key: Codec<K>, value: Codec<V>): TypedMap<K, V> {
    return new TypedMap(this, key, value);
  }

  /** Closes the fd if this map owns it (maps of an object close with the object). */
  close(): void {
    if (this.#owned && this.#fd >= 0) closeFd(this.#fd);
    this.#fd = -1;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

function roundUp8(n: number): number {
  return (n + 7) & ~7;
}

function splitPerCpu(all: Buffer, valueSize: number): Buffer[] {
  const stride = roundUp8(valueSize);
  const out: Buffer[] = [];
  for (let off = 0; off + valueSize <= all.length; off += stride) out.push(Buffer.from(all.subarray(off, off + valueSize)));
  return out;
}

/** A map seen through codecs. */
export class TypedMap<K, V> {
  constructor(readonly map: BpfMap, readonly key: Codec<K>, readonly value: Codec<V>) {
    if (key.size !== map.keySize) throw new RangeError(`map '${map.name}' has ${map.keySize}-byte keys, codec is ${key.size}`);
    if (value.size !== map.valueSize) throw new RangeError(`map '${map.name}' has ${map.valueSize}-byte values, codec is ${value.size}`);
  }
  get(k: K): V | undefined {
    const v = this.map.lookup(this.key.encode(k));
    return v === undefined ? undefined : this.value.decode(v);
  }
  set(k: K, v: V, flag: UpdateFlag = 'any'): void {
    this.map.update(this.key.encode(k), this.value.encode(v), flag);
  }
  delete(k: K): boolean {
    return this.map.delete(this.key.encode(k));
  }
  entries(): Array<[K, V]> {
    return this.map.entries().map(([k, v]) => [this.key.decode(k), this.value.decode(v)]);
  }
  /** Per-CPU maps: each CPU's value. */
  getPerCpu(k: K): V[] | undefined {
    return this.map.lookupPerCpu(this.key.encode(k))?.map((b) => this.value.decode(b));
  }
  /** Per-CPU maps of integers: the sum over CPUs (what a counter's total is). */
  sumPerCpu(k: K): bigint | undefined {
    const vals = this.getPerCpu(k);
    return vals?.reduce<bigint>((acc, v) => acc + BigInt(v as unknown as bigint | number), 0n);
  }
}

/** A BPF_MAP_TYPE_PROG_ARRAY: slots holding programs for tail calls. */
export class ProgArray {
  constructor(readonly map: BpfMap) {
    if (map.type !== 'prog_array') throw new RangeError(`map '${map.name}' is ${map.type}, not prog_array`);
  }
  /** Points `slot` at a program (by fd); one atomic map update, the way a chain switches. */
  set(slot: number, program: { fd: number } | number): void {
    const fd = typeof program === 'number' ? program : program.fd;
    const key = Buffer.alloc(4);
    key.writeUInt32LE(slot);
    const value = Buffer.alloc(4);
    value.writeInt32LE(fd);
    this.map.update(key, value);
  }
  /** Empties `slot`; false if it was empty. */
  clear(slot: number): boolean {
    const key = Buffer.alloc(4);
    key.writeUInt32LE(slot);
    return this.map.delete(key);
  }
  /** The id of the program in `slot`, or undefined when empty. */
  get(slot: number): number | undefined {
    const key = Buffer.alloc(4);
    key.writeUInt32LE(slot);
    return this.map.lookup(key)?.readUInt32LE(0);
  }
}
