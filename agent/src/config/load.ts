/**
 * Loading of the agent configuration from an l3afd `l3afd.cfg` (INI) or the same sections and
 * keys in YAML, into one validated {@link AgentConfig}.
 *
 * - A malformed value or a missing required key is an error naming `section.key` and the value
 *   ({@link ConfigError}, all problems at once).
 * - An unknown section or key is a warning (one line each, returned for the caller to log).
 * - An absent optional key takes its default and is recorded as a note (debug level).
 */
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import YAML from 'yaml';
import { Value } from 'typebox/value';
import type { TSchema } from 'typebox';
import { DEFAULT_SECTION, IniError, parseIni, type IniDocument } from './ini.ts';
import { AgentConfigSchema, META, type AgentConfig, type FieldMeta, type GroupMeta } from './schema.ts';
import { formatGoDuration, parseBool, parseGoDuration, parseHostPort, parseInteger, parseList } from './values.ts';

/** One reason the configuration cannot be used. `key` is `section.key` (or a section / line). */
export interface ConfigProblem {
  key: string;
  value?: string;
  message: string;
}

/** Thrown when the configuration is unusable; the message lists every problem. */
export class ConfigError extends Error {
  readonly problems: ConfigProblem[];
  constructor(source: string, problems: ConfigProblem[]) {
    super(`invalid configuration ${source}:\n${problems.map((p) => `  ${p.key}: ${p.message}${p.value !== undefined ? ` (got ${JSON.stringify(p.value)})` : ''}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** A loaded configuration with what the caller should log. */
export interface LoadedConfig {
  config: AgentConfig;
  /** Unknown sections/keys and legacy spellings: log at warn level, one line each. */
  warnings: string[];
  /** Defaults taken for absent optional keys and where each value came from: log at debug level. */
  notes: string[];
}

/** File syntax of a configuration. */
export type ConfigFormat = 'ini' | 'yaml';

/** Read access to sections/keys, common to INI and YAML. */
interface RawSource {
  sectionNames(): string[];
  hasSection(s: string): boolean;
  ownKeys(s: string): string[];
  /** Value of `s.k` (INI: with DEFAULT fallback and interpolation); undefined when absent. */
  get(s: string, k: string): unknown;
}

function iniSource(doc: IniDocument): RawSource {
  return {
    sectionNames: () => doc.sectionNames(),
    hasSection: (s) => doc.hasSection(s),
    ownKeys: (s) => doc.ownKeys(s),
    get: (s, k) => doc.get(s, k),
  };
}

function objectSource(obj: Record<string, unknown>, problems: ConfigProblem[]): RawSource {
  const sections = new Map<string, Record<string, unknown>>();
  for (const [name, body] of Object.entries(obj)) {
    if (body === null || body === undefined) {
      sections.set(name, {});
    } else if (typeof body === 'object' && !Array.isArray(body)) {
      sections.set(name, body as Record<string, unknown>);
    } else {
      problems.push({ key: name, message: 'must be a mapping of keys to values (a section)' });
    }
  }
  return {
    sectionNames: () => [...sections.keys()],
    hasSection: (s) => sections.has(s),
    ownKeys: (s) => Object.keys(sections.get(s) ?? {}),
    get: (s, k) => {
      const sec = sections.get(s);
      return sec && Object.hasOwn(sec, k) ? sec[k] : undefined;
    },
  };
}

type Converted = { ok: true; value: unknown } | { ok: false; message: string };

const TLS_VERSIONS: Record<string, '1.2' | '1.3'> = {
  'tls_1.2': '1.2', tls_1_2: '1.2', '1.2': '1.2', tls12: '1.2', 'tls1.2': '1.2',
  'tls_1.3': '1.3', tls_1_3: '1.3', '1.3': '1.3', tls13: '1.3', 'tls1.3': '1.3',
  default: '1.3',
};

function asText(v: unknown): string | undefined {
  if (v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

/** Converts a raw file value to the field's typed value. */
function convert(raw: unknown, meta: FieldMeta, schema: TSchema): Converted {
  const text = asText(raw);
  switch (meta.kind) {
    case 'string':
    case 'path':
      return text === undefined ? { ok: false, message: 'must be a string' } : { ok: true, value: text.trim() };
    case 'bool': {
      if (typeof raw === 'boolean') return { ok: true, value: raw };
      const b = text === undefined ? undefined : parseBool(text);
      return b === undefined ? { ok: false, message: 'must be a boolean (t, true, y, yes, on, 1 / f, false, n, no, off, 0)' } : { ok: true, value: b };
    }
    case 'int': {
      if (typeof raw === 'number') return Number.isSafeInteger(raw) ? { ok: true, value: raw } : { ok: false, message: 'must be an integer' };
      const n = text === undefined ? undefined : parseInteger(text);
      return n === undefined ? { ok: false, message: 'must be an integer' } : { ok: true, value: n };
    }
    case 'duration': {
      if (raw === 0) return { ok: true, value: 0 };
      const ms = typeof raw === 'string' ? parseGoDuration(raw) : undefined;
      if (ms === undefined) return { ok: false, message: 'must be a Go duration such as 30s, 1m30s or 500ms (a number needs a unit)' };
      return ms < 0 ? { ok: false, message: 'must not be negative' } : { ok: true, value: ms };
    }
    case 'addr': {
      const hp = text === undefined ? undefined : parseHostPort(text);
      return hp ? { ok: true, value: (text ?? '').trim() } : { ok: false, message: 'must be a listen address host:port (e.g. localhost:53000, 0.0.0.0:7080, [::1]:8898, :8080) with a port 0-65535' };
    }
    case 'url': {
      const t = (text ?? '').trim();
      let u: URL | undefined;
      try { u = new URL(t); } catch { u = undefined; }
      if (text === undefined || !u) return { ok: false, message: 'must be a URL (file://, http:// or https://)' };
      if (!['file:', 'http:', 'https:'].includes(u.protocol)) return { ok: false, message: `unsupported URL scheme "${u.protocol.replace(/:$/, '')}" (use file, http or https)` };
      return { ok: true, value: t };
    }
    case 'list': {
      if (Array.isArray(raw)) {
        return raw.every((x) => typeof x === 'string') ? { ok: true, value: raw.map((x: string) => x.trim()).filter((x) => x !== '') } : { ok: false, message: 'must be a list of strings' };
      }
      return text === undefined ? { ok: false, message: 'must be a comma-separated list' } : { ok: true, value: parseList(text) };
    }
    case 'tls': {
      const v = text === undefined ? undefined : TLS_VERSIONS[text.trim().toLowerCase()];
      return v ? { ok: true, value: v } : { ok: false, message: 'must be TLS_1.2 or TLS_1.3 (also TLS_1_2, TLS_1_3, 1.2, 1.3, default)' };
    }
    case 'enum': {
      const allowed = (schema as { enum?: unknown[] }).enum ?? [];
      const t = text?.trim();
      return t !== undefined && allowed.includes(t) ? { ok: true, value: t } : { ok: false, message: `must be one of: ${allowed.join(', ')}` };
    }
  }
}

function metaOf<T>(schema: TSchema): T {
  return (schema as unknown as Record<string, T>)[META] as T;
}

function describeDefault(v: unknown, meta: FieldMeta): string {
  if (meta.kind === 'duration' && typeof v === 'number') return formatGoDuration(v);
  if (Array.isArray(v)) return v.join(',');
  return JSON.stringify(v);
}

/** Builds and validates the configuration from a source. */
function build(src: RawSource, sourceName: string, problems: ConfigProblem[]): LoadedConfig {
  const warnings: string[] = [];
  const notes: string[] = [];
  const out: Record<string, Record<string, unknown>> = {};
  const origin = new Map<string, { key: string; value: string }>(); // "/group/prop" -> where it came from
  const knownSections = new Set<string>([DEFAULT_SECTION]);
  const groups = AgentConfigSchema.properties as Record<string, TSchema & { properties: Record<string, TSchema> }>;

  for (const [gName, gSchema] of Object.entries(groups)) {
    const gMeta = metaOf<GroupMeta>(gSchema);
    const result: Record<string, unknown> = {};
    out[gName] = result;
    const primary = gMeta.sections[0] ?? gName;
    const present = gMeta.sections.filter((s) => src.hasSection(s));
    for (const s of gMeta.sections) knownSections.add(s);
    const legacy = gMeta.legacy && src.hasSection(gMeta.legacy.section) ? gMeta.legacy : undefined;
    if (gMeta.legacy) knownSections.add(gMeta.legacy.section);
    if (legacy) warnings.push(`[${legacy.section}] is the legacy name of [${primary}]; its options take precedence (as in l3afd)`);
    for (const s of present.slice(1)) {
      if (s !== primary) notes.push(`[${s}] read as [${primary}]${present.length > 1 ? ` (after [${present[0]}])` : ''}`);
    }
    const sectionKeys = new Map<string, Set<string>>();
    for (const s of gMeta.sections) sectionKeys.set(s, new Set());

    for (const [prop, fSchema] of Object.entries(gSchema.properties)) {
      const fMeta = metaOf<FieldMeta>(fSchema);
      for (const s of gMeta.sections) sectionKeys.get(s)?.add(fMeta.key);
      let found: { section: string; key: string; raw: unknown } | undefined;
      if (legacy) {
        const lk = Object.entries(legacy.keys).find(([, nk]) => nk === fMeta.key)?.[0];
        const raw = lk === undefined ? undefined : src.get(legacy.section, lk);
        if (lk !== undefined && raw !== undefined) found = { section: legacy.section, key: lk, raw };
      }
      for (const s of present) {
        if (found) break;
        const raw = src.get(s, fMeta.key);
        if (raw !== undefined) found = { section: s, key: fMeta.key, raw };
      }
      const path = `/${gName}/${prop}`;
      if (!found) {
        const def = (fSchema as { default?: unknown }).default;
        if (fMeta.required || def === undefined) {
          problems.push({ key: `${primary}.${fMeta.key}`, message: present.length === 0 && !legacy ? `required key is missing (no [${primary}] section)` : 'required key is missing' });
        } else {
          result[prop] = structuredClone(def);
          notes.push(`${primary}.${fMeta.key} not set: default ${describeDefault(def, fMeta)}`);
        }
        continue;
      }
      const where = `${found.section}.${found.key}`;
      const c = convert(found.raw, fMeta, fSchema);
      const shown = asText(found.raw) ?? JSON.stringify(found.raw);
      if (!c.ok) {
        problems.push({ key: where, value: shown, message: c.message });
        continue;
      }
      result[prop] = c.value;
      origin.set(path, { key: where, value: shown });
    }

    // Unknown keys of the group's sections.
    for (const s of present) {
      const known = sectionKeys.get(s) ?? new Set<string>();
      for (const k of src.ownKeys(s)) if (!known.has(k)) warnings.push(`unknown key ${s}.${k} ignored`);
    }
    if (legacy) {
      const known = new Set(Object.keys(legacy.keys));
      for (const k of src.ownKeys(legacy.section)) if (!known.has(k)) warnings.push(`unknown key ${legacy.section}.${k} ignored (not read from the legacy section)`);
    }
  }
  for (const s of src.sectionNames()) if (!knownSections.has(s)) warnings.push(`unknown section [${s}] ignored`);

  if (problems.length === 0) {
    for (const e of Value.Errors(AgentConfigSchema, out)) {
      const o = origin.get(e.instancePath);
      problems.push({ key: o?.key ?? e.instancePath, value: o?.value, message: e.message });
    }
  }
  if (problems.length > 0) throw new ConfigError(sourceName, problems);
  const config = out as unknown as AgentConfig;
  if (config.l3af.packageCacheDir === '') {
    config.l3af.packageCacheDir = config.l3afd.bpfDir;
    notes.push('l3af.package-cache-dir follows l3afd.bpf-dir');
  }
  return { config, warnings, notes };
}

/** Parses configuration text. Throws {@link ConfigError}. */
export function parseConfig(text: string, format: ConfigFormat, sourceName = `(${format} text)`): LoadedConfig {
  const problems: ConfigProblem[] = [];
  if (format === 'ini') {
    let doc: IniDocument;
    try {
      doc = parseIni(text);
    } catch (e) {
      if (e instanceof IniError) throw new ConfigError(sourceName, e.problems.map((p) => ({ key: p.key ?? `line ${p.line}`, message: p.message })));
      throw e;
    }
    try {
      const loaded = build(iniSource(doc), sourceName, problems);
      // An l3afd.cfg means an l3afd user: their dashboards and scripts read l3afd's metric names,
      // so those are on unless the file says otherwise ([l3af] l3afd-metric-names).
      if (doc.get('l3af', 'l3afd-metric-names') === undefined) {
        loaded.config.l3af.l3afdMetricNames = true;
        loaded.notes.push("l3af.l3afd-metric-names = true (an l3afd.cfg: l3afd's metric names are exported beside l3af's)");
      }
      // l3afd logs console lines unless json-format-logs says otherwise
      if (doc.get('l3afd', 'json-format-logs') === undefined) loaded.config.l3afd.jsonFormatLogs = false;
      return loaded;
    } catch (e) {
      if (e instanceof IniError) throw new ConfigError(sourceName, [...problems, ...e.problems.map((p) => ({ key: p.key ?? `line ${p.line}`, message: p.message }))]);
      throw e;
    }
  }
  let parsed: unknown;
  try {
    parsed = YAML.parse(text);
  } catch (e) {
    throw new ConfigError(sourceName, [{ key: 'yaml', message: (e as Error).message }]);
  }
  if (parsed === null || parsed === undefined) parsed = {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError(sourceName, [{ key: '(top level)', message: 'must be a mapping of section names to sections' }]);
  }
  return configFromObject(parsed as Record<string, unknown>, sourceName);
}

/**
 * Builds the configuration from an object shaped like the YAML form (section name → key →
 * value). Throws {@link ConfigError}.
 */
export function configFromObject(obj: Record<string, unknown>, sourceName = '(object)'): LoadedConfig {
  const problems: ConfigProblem[] = [];
  const src = objectSource(obj, problems);
  return build(src, sourceName, problems);
}

/** Picks the syntax from the file name: `.yaml`/`.yml` → YAML, anything else → INI. */
export function formatOf(path: string): ConfigFormat {
  const ext = extname(path).toLowerCase();
  return ext === '.yaml' || ext === '.yml' ? 'yaml' : 'ini';
}

/** Reads and parses a configuration file. Throws {@link ConfigError} (unreadable file included). */
export async function loadConfigFile(path: string, format: ConfigFormat = formatOf(path)): Promise<LoadedConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new ConfigError(path, [{ key: '(file)', message: `cannot read: ${(e as Error).message}` }]);
  }
  return parseConfig(text, format, path);
}
