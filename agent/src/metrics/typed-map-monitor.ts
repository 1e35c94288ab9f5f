/**
 * One typed `monitor_maps` entry of a running program (see payload/monitor-map.ts for the shapes):
 * keys and values decoded through the map's BTF (or the entry's PR #661 key schema) into label
 * sets, a key / list / range / all keys selected under a series bound (`max_keys`, reported as
 * `l3af_map_keys_omitted` and logged once when hit), value fields chosen by path each with its
 * aggregator, per-CPU values summed or one series per CPU (`cpu` label).
 *
 * Series labels: the program's, `map`, one label per key field (the entry's `labels`, or by
 * default `key` for a scalar key and every key field by its path with `.`/`[]` → `_`), `field`
 * (the value path) when the value is a struct, `cpu` with `per_cpu: "cpu"`.
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import { BpfMap, possibleCpuCount } from '../bpf/index.ts';
import { BtfTypes } from '../bpf/btf-decoder.ts';
import type { MonitorMap } from '../payload/index.ts';
import { RateWindow } from './rate-window.ts';
import { btfLayout, compileFieldSchema, encodeUint, intLayout, leafNumber, leafText, parseAddress, readUintHost, type Layout, type Leaf } from './map-layout.ts';
import { messageOf } from '../error-message.ts';

export type FieldAggregator = 'scalar' | 'max-rate' | 'avg';

/** One exported series: its labels (beyond the program's and `map`) and its state. */
export interface TypedSeries {
  readonly labels: Readonly<Record<string, string>>;
  readonly aggregator: FieldAggregator;
  value: bigint;
  readonly window: RateWindow;
}

/** Label names a key field may not take (the program's own and ours). */
const RESERVED = new Set(['host', 'program', 'direction', 'interface', 'ipv4_address', 'map', 'field', 'cpu', 'le', 'aggregator', 'type']);

type Selection = { kind: 'keys'; keys: Buffer[] } | { kind: 'range'; from: bigint; to: bigint } | { kind: 'all' };

export interface TypedMonitorOptions {
  readonly samples: number;
  readonly maxKeys: number;
  readonly logger?: Logger;
  readonly onError: () => void;
}

export class TypedMapMonitor {
  readonly entry: MonitorMap;
  readonly series = new Map<string, TypedSeries>();
  omitted = 0;
  /** Why this entry cannot be sampled (bad key for the map, reserved label, …), when so. */
  invalid: string | undefined;
  #map: BpfMap | undefined;
  #openError: string | undefined;
  #limitLogged = false;
  /** Keys holding a place under the series bound (the ones seen first). */
  readonly #kept = new Set<string>();
  #keyLayout: Layout | undefined;
  #sel: Selection | undefined;
  #labels: Array<{ name: string; leaf: Leaf; format?: string }> = [];
  #values: Array<{ leaf: Leaf; aggregator: FieldAggregator; field: string | undefined }> = [];

  constructor(readonly pinDir: string, entry: MonitorMap, readonly program: string, readonly opts: TypedMonitorOptions) {
    this.entry = entry;
  }

  get maxKeys(): number {
    return this.entry.max_keys ?? this.opts.maxKeys;
  }

  close(): void {
    this.#map?.close();
    this.#map = undefined;
  }

  #prepare(): BpfMap | undefined {
    if (this.#map) return this.#map;
    if (this.invalid !== undefined) return undefined;
    let map: BpfMap;
    try {
      map = BpfMap.openPinned(join(this.pinDir, this.entry.name));
      this.#openError = undefined;
    } catch (err) {
      const msg = messageOf(err);
      if (this.#openError !== msg) this.opts.logger?.warn({ program: this.program, map: this.entry.name, err: msg }, 'cannot open monitored map');
      this.#openError = msg;
      this.opts.onError();
      return undefined;
    }
    try {
      this.#configure(map);
    } catch (err) {
      map.close();
      this.invalid = messageOf(err);
      this.opts.logger?.warn({ program: this.program, map: this.entry.name, err: this.invalid }, 'typed monitor_maps entry does not fit its map; not sampled');
      this.opts.onError();
      return undefined;
    }
    this.#map = map;
    return map;
  }

  #configure(map: BpfMap): void {
    const e = this.entry;
    const info = map.info();
    let types: BtfTypes | undefined;
    if (info.btfId > 0 && info.btfKeyTypeId > 0) {
      try {
        types = BtfTypes.ofId(info.btfId);
      } catch (err) {
        this.opts.logger?.warn({ program: this.program, map: e.name, err: messageOf(err) }, 'map BTF unreadable; keys and values read as integers');
      }
    }
    let keyLayout = types ? btfLayout(types, info.btfKeyTypeId) : intLayout(map.keySize);
    const valueLayout = types && info.btfValueTypeId > 0 ? btfLayout(types, info.btfValueTypeId) : intLayout(map.valueSize);
    if (keyLayout.size !== map.keySize) keyLayout = intLayout(map.keySize);
    // key selection
    const keyBytes = (k: unknown): Buffer => {
      if (typeof k === 'number') {
        if (!keyLayout.scalar || keyLayout.leaves[0]!.size > 8) throw new RangeError(`integer key ${k} for ${e.name}, whose keys are ${map.keySize}-byte ${keyLayout.scalar ? 'values' : 'structs'}`);
        return encodeUint(BigInt(k), map.keySize);
      }
      if (typeof k === 'string') {
        const kt = e.key_type ?? (/^\d+$/.test(k) ? 'int' : k.includes(':') ? 'ipv6' : 'ipv4');
        if (kt === 'int') {
          if (!/^\d+$/.test(k)) throw new RangeError(`key ${JSON.stringify(k)} is not an integer (key_type int)`);
          return encodeUint(BigInt(k), map.keySize);
        }
        const a = parseAddress(k);
        if (!a) throw new RangeError(`key ${JSON.stringify(k)} is not an ${kt} address`);
        if (a.length !== map.keySize) throw new RangeError(`key ${k} is ${a.length} bytes, ${e.name} keys are ${map.keySize}`);
        return a;
      }
      const c = compileFieldSchema(k as never);
      if (c.bytes.length !== map.keySize) throw new RangeError(`typed key is ${c.bytes.length} bytes, ${e.name} keys are ${map.keySize}`);
      keyLayout = c.layout; // the schema's field names are the label paths (as PR #661)
      return c.bytes;
    };
    const key = e.key;
    if (key === '*') this.#sel = { kind: 'all' };
    else if (Array.isArray(key)) this.#sel = { kind: 'keys', keys: key.map(keyBytes) };
    else if (typeof key === 'object' && 'from' in key) {
      if (!keyLayout.scalar || map.keySize > 8) throw new RangeError(`a key range needs integer keys; ${e.name} keys are ${map.keySize}-byte structs`);
      if (key.from > key.to) throw new RangeError(`key range from ${key.from} > to ${key.to}`);
      this.#sel = { kind: 'range', from: BigInt(key.from), to: BigInt(key.to) };
    } else this.#sel = { kind: 'keys', keys: [keyBytes(key)] };
    // labels
    const byPath = new Map(keyLayout.leaves.map((l) => [l.path, l]));
    const labels: ReadonlyArray<{ name: string; path: string; format?: string }> = e.labels ?? (keyLayout.scalar
      ? [{ name: 'key', path: '', ...(e.key_type === 'ipv4' || e.key_type === 'ipv6' ? { format: e.key_type } : {}) }]
      : keyLayout.leaves.map((l) => ({ name: l.path.replace(/[.[]/g, '_').replace(/]/g, ''), path: l.path })));
    this.#labels = labels.map((l) => {
      if (RESERVED.has(l.name)) throw new RangeError(`label name ${l.name} is reserved (program labels, map, field, cpu)`);
      const leaf = l.path === '' && keyLayout.scalar ? keyLayout.leaves[0] : byPath.get(l.path);
      if (!leaf) throw new RangeError(`key of ${e.name} has no field ${JSON.stringify(l.path)} (fields: ${keyLayout.leaves.map((x) => x.path || '(whole key)').join(', ')})`);
      return { name: l.name, leaf, ...(l.format ? { format: l.format } : {}) };
    });
    // values
    const agg = (a: string | undefined): FieldAggregator => {
      const x = a ?? e.aggregator;
      if (x === 'histogram') throw new RangeError(`histogram is for integer-keyed ARRAY maps (key {from, to} or "*", no labels/values)`);
      return x as FieldAggregator;
    };
    const vByPath = new Map(valueLayout.leaves.map((l) => [l.path, l]));
    const numeric = (l: Leaf): boolean => ['int', 'sint', 'be', 'port'].includes(l.format) && l.size <= 8;
    const wanted = e.values ?? (valueLayout.scalar ? [{ path: '' }] : valueLayout.leaves.filter(numeric).map((l) => ({ path: l.path })));
    this.#values = wanted.map((v) => {
      const leaf = v.path === '' && valueLayout.scalar ? valueLayout.leaves[0] : vByPath.get(v.path);
      if (!leaf) throw new RangeError(`value of ${e.name} has no field ${JSON.stringify(v.path)} (fields: ${valueLayout.leaves.map((x) => x.path || '(whole value)').join(', ')})`);
      if (!numeric(leaf)) throw new RangeError(`value field ${JSON.stringify(v.path)} of ${e.name} is not an integer`);
      return { leaf, aggregator: agg('aggregator' in v ? v.aggregator : undefined), field: valueLayout.scalar ? undefined : v.path };
    });
    if (this.#values.length === 0) throw new RangeError(`value of ${e.name} has no integer field`);
    this.#keyLayout = keyLayout;
  }

  /** Reads the map once and updates every series. */
  sample(t: bigint): void {
    const map = this.#prepare();
    if (!map || !this.#sel || !this.#keyLayout) return;
    let rows: Array<[Buffer, Buffer]>;
    try {
      if (this.#sel.kind === 'keys') {
        rows = [];
        for (const k of this.#sel.keys) {
          const v = map.lookup(k);
          if (v !== undefined) rows.push([k, v]);
        }
      } else {
        rows = map.entries();
        if (this.#sel.kind === 'range') {
          const { from, to } = this.#sel;
          rows = rows.filter(([k]) => {
            const n = readUintHost(k, 0, map.keySize);
            return n >= from && n <= to;
          });
        }
      }
    } catch (err) {
      this.opts.onError();
      this.opts.logger?.warn({ program: this.program, map: this.entry.name, err: messageOf(err) }, 'map sample failed');
      return;
    }
    const byCpu = this.entry.per_cpu === 'cpu' && map.perCpu;
    const stride = (map.valueSize + 7) & ~7;
    const ncpu = map.perCpu ? Math.min(possibleCpuCount(), Math.floor((rows[0]?.[1].length ?? 0) / stride)) : 1;
    const seen = new Set<string>();
    const keysSeen = new Set<string>();
    let omitted = 0;
    const limit = this.#sel.kind === 'keys' ? Infinity : this.maxKeys;
    for (const [k, v] of rows) {
      const keyLabels: Record<string, string> = {};
      for (const l of this.#labels) keyLabels[l.name] = leafText(k, l.leaf, l.format);
      const keyId = k.toString('hex');
      if (!this.#kept.has(keyId)) {
        if (this.#kept.size >= limit) {
          omitted++;
          continue;
        }
        this.#kept.add(keyId);
      }
      keysSeen.add(keyId);
      for (const [fi, f] of this.#values.entries()) {
        const cpus = byCpu ? ncpu : 1;
        for (let c = 0; c < cpus; c++) {
          let val = 0n;
          if (!map.perCpu) val = leafNumber(v, f.leaf) ?? 0n;
          else if (byCpu) val = leafNumber(v.subarray(c * stride, c * stride + map.valueSize), f.leaf) ?? 0n;
          else for (let cc = 0; cc < ncpu; cc++) val += leafNumber(v.subarray(cc * stride, cc * stride + map.valueSize), f.leaf) ?? 0n;
          const id = `${keyId}|${fi}|${byCpu ? c : ''}`;
          let st = this.series.get(id);
          if (!st) {
            const labels: Record<string, string> = { ...keyLabels };
            if (f.field !== undefined) labels.field = f.field;
            if (byCpu) labels.cpu = String(c);
            st = { labels, aggregator: f.aggregator, value: val, window: new RateWindow(this.opts.samples) };
            this.series.set(id, st);
          }
          st.value = val;
          st.window.push(t, val);
          seen.add(id);
        }
      }
    }
    for (const id of this.series.keys()) if (!seen.has(id)) this.series.delete(id);
    for (const k of this.#kept) if (!keysSeen.has(k)) this.#kept.delete(k);
    this.omitted = omitted;
    if (omitted > 0 && !this.#limitLogged) {
      this.#limitLogged = true;
      this.opts.logger?.warn({ program: this.program, map: this.entry.name, limit, omitted }, 'monitored map has more keys than max_keys; the keys beyond it are not exported');
    }
  }

  /** Whether this entry selects many keys (its bound applies). */
  get multi(): boolean {
    const k = this.entry.key;
    return k === '*' || (typeof k === 'object' && !Array.isArray(k) && 'from' in k);
  }
}
