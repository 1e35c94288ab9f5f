// A small parser and checker of the Prometheus text exposition format (0.0.4), used by the tests
// to read /metrics and, only when promtool is not installed, as a fallback for
// `promtool check metrics` (format errors plus the promlint rules that apply to our names).
import { execFileSync, spawnSync } from 'node:child_process';

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Exposition {
  readonly samples: Sample[];
  readonly types: Map<string, string>;
  readonly help: Map<string, string>;
  /** Format errors (what a Prometheus scrape would reject). */
  readonly errors: string[];
  /** promlint-style problems (what `promtool check metrics` reports). */
  readonly lint: string[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const NON_BASE = ['nanoseconds', 'microseconds', 'milliseconds', 'minutes', 'hours', 'days', 'kilobytes', 'megabytes', 'gigabytes', 'millis', 'nanos', 'micros'];

function parseValue(s: string): number | undefined {
  if (s === 'NaN') return NaN;
  if (s === '+Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) return undefined;
  return Number(s);
}

function familyOf(name: string, types: Map<string, string>): string {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (name.endsWith(suffix)) {
      const base = name.slice(0, -suffix.length);
      const t = types.get(base);
      if (t === 'histogram' || t === 'summary') return base;
    }
  }
  return name;
}

/** Parses and checks an exposition. */
export function parseExposition(text: string): Exposition {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  const errors: string[] = [];
  const lint: string[] = [];
  const seen = new Set<string>();
  const lines = text.split('\n');
  if (!text.endsWith('\n')) errors.push('exposition does not end with a newline');
  lines.forEach((line, i) => {
    const at = `line ${i + 1}`;
    if (line === '') return;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!m) return;
      const [, kind, name, rest] = m as unknown as [string, string, string, string];
      if (!NAME.test(name)) errors.push(`${at}: bad metric name ${name}`);
      if (kind === 'TYPE') {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest)) errors.push(`${at}: bad type ${rest}`);
        if (types.has(name)) errors.push(`${at}: second TYPE for ${name}`);
        if (samples.some((s) => familyOf(s.name, types) === name)) errors.push(`${at}: TYPE of ${name} after its samples`);
        types.set(name, rest);
      } else help.set(name, rest);
      return;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( \d+)?$/.exec(line);
    if (!m) {
      errors.push(`${at}: unparsable sample: ${line}`);
      return;
    }
    const name = m[1]!;
    const labels: Record<string, string> = {};
    let body = m[3] ?? '';
    while (body.length > 0) {
      const lm = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/.exec(body);
      if (!lm) {
        errors.push(`${at}: bad labels: ${m[3]}`);
        break;
      }
      if (!LABEL.test(lm[1]!) || lm[1]!.startsWith('__')) errors.push(`${at}: bad label name ${lm[1]}`);
      if (lm[1]! in labels) errors.push(`${at}: duplicate label ${lm[1]}`);
      labels[lm[1]!] = lm[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
      body = body.slice(lm[0].length);
    }
    const value = parseValue(m[4]!);
    if (value === undefined) errors.push(`${at}: bad value ${m[4]}`);
    const id = `${name}{${Object.entries(labels).sort().map(([k, v]) => `${k}=${v}`).join(',')}}`;
    if (seen.has(id)) errors.push(`${at}: duplicate series ${id}`);
    seen.add(id);
    samples.push({ name, labels, value: value ?? NaN });
  });
  // histograms: cumulative buckets ending in +Inf equal to _count
  for (const [fam, t] of types) {
    if (t !== 'histogram') continue;
    const groups = new Map<string, Sample[]>();
    for (const s of samples.filter((x) => x.name === `${fam}_bucket`)) {
      if (!('le' in s.labels)) errors.push(`${fam}_bucket without le`);
      const { le: _le, ...rest } = s.labels;
      const k = JSON.stringify(Object.entries(rest).sort());
      groups.set(k, [...(groups.get(k) ?? []), s]);
    }
    for (const [k, bs] of groups) {
      const sorted = [...bs].sort((a, b) => parseValue(a.labels.le!)! - parseValue(b.labels.le!)!);
      for (let i = 1; i < sorted.length; i++) if (sorted[i]!.value < sorted[i - 1]!.value) errors.push(`${fam}${k}: buckets not cumulative`);
      const inf = sorted.at(-1);
      if (inf?.labels.le !== '+Inf') errors.push(`${fam}${k}: no +Inf bucket`);
      const count = samples.find((s) => s.name === `${fam}_count` && JSON.stringify(Object.entries(s.labels).sort()) === k);
      if (!count || count.value !== inf?.value) errors.push(`${fam}${k}: _count differs from the +Inf bucket`);
    }
  }
  // promlint rules
  for (const [name, t] of types) {
    if (!help.has(name) || help.get(name) === '') lint.push(`${name}: no help text`);
    if (t === 'counter' && !name.endsWith('_total')) lint.push(`${name}: counter metrics should have "_total" suffix`);
    if (t !== 'counter' && name.endsWith('_total')) lint.push(`${name}: non-counter metrics should not have "_total" suffix`);
    if (/[a-z][A-Z]/.test(name)) lint.push(`${name}: metric names should be written in 'snake_case' not 'camelCase'`);
    for (const u of NON_BASE) if (name.split('_').includes(u)) lint.push(`${name}: use base unit instead of "${u}"`);
  }
  for (const s of samples) for (const l of Object.keys(s.labels)) if (/[a-z][A-Z]/.test(l)) lint.push(`${s.name}: label names should be written in 'snake_case' not 'camelCase'`);
  return { samples, types, help, errors, lint: [...new Set(lint)] };
}

/** The value of the one sample named `name` whose labels include `labels`; throws unless exactly one matches. */
export function valueOf(e: Exposition, name: string, labels: Record<string, string> = {}): number {
  const hits = e.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (hits.length !== 1) throw new Error(`${hits.length} samples of ${name}${JSON.stringify(labels)}`);
  return hits[0]!.value;
}

/** Samples named `name` whose labels include `labels`. */
export function samplesOf(e: Exposition, name: string, labels: Record<string, string> = {}): Sample[] {
  return e.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

/** Path of promtool, or undefined when it is not installed. */
export function promtoolPath(): string | undefined {
  try {
    return execFileSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Runs `promtool check metrics` on `text`: exit status and output. */
export function promtoolCheck(promtool: string, text: string): { status: number; output: string } {
  const r = spawnSync(promtool, ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return { status: r.status ?? -1, output: `${r.stdout}${r.stderr}` };
}
