/** A small reader of the Prometheus text format, and the per-program summary of `l3afctl metrics`. */

/** One sample: its series name, labels and value. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** One metric family: type, help, samples. */
export interface Family {
  name: string;
  type: string;
  help: string;
  samples: Sample[];
}

/** Parses `{a="x",b="y\"z"}` (escapes \\, \", \n). */
export function parseLabels(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    out[m[1] ?? ''] = (m[2] ?? '').replace(/\\(.)/g, (_s, c: string) => (c === 'n' ? '\n' : c));
  }
  return out;
}

/** Parses exposition text into families (samples grouped under their # TYPE family). */
export function parsePrometheus(text: string): Family[] {
  const families = new Map<string, Family>();
  const familyOf = (name: string): Family => {
    let f = families.get(name);
    if (!f) {
      f = { name, type: 'untyped', help: '', samples: [] };
      families.set(name, f);
    }
    return f;
  };
  let current: Family | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    const meta = /^#\s+(HELP|TYPE)\s+(\S+)\s*(.*)$/.exec(line);
    if (meta) {
      current = familyOf(meta[2] ?? '');
      if (meta[1] === 'TYPE') current.type = meta[3] ?? 'untyped';
      else current.help = meta[3] ?? '';
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[^"}]|"(?:[^"\\]|\\.)*")*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const name = m[1] ?? '';
    const fam = current && name.startsWith(current.name) ? current : familyOf(name);
    fam.samples.push({ name, labels: parseLabels(m[2] ?? ''), value: Number(m[3]) });
  }
  return [...families.values()];
}

/** A monitored map key of a program (`monitor_maps`). */
export interface MapValue {
  map: string;
  key: string;
  /** scalar (l3af_map_value), max-rate or avg-rate (per second). */
  aggregator: 'scalar' | 'max-rate' | 'avg-rate';
  value: number;
}

/** What the agent's metrics say about one program. */
export interface ProgramSummary {
  interface: string;
  direction: string;
  program: string;
  version: string;
  /** l3af_program_running (1 attached, 0 found down); undefined when absent (stopped). */
  running?: number;
  starts: number;
  stops: number;
  updates: number;
  updateFailures: number;
  deployFailures: number;
  /** Kernel run count (l3af_program_runs_total); undefined when kernel stats are off or unknown. */
  runs?: number;
  maps: MapValue[];
}

const COUNTERS: Record<string, keyof Pick<ProgramSummary, 'starts' | 'stops' | 'updates' | 'updateFailures' | 'deployFailures'>> = {
  l3af_program_starts_total: 'starts',
  l3af_program_stops_total: 'stops',
  l3af_program_updates_total: 'updates',
  l3af_program_update_failures_total: 'updateFailures',
  l3af_program_deploy_failures_total: 'deployFailures',
};
const MAPS: Record<string, MapValue['aggregator']> = {
  l3af_map_value: 'scalar',
  l3af_map_rate_max_per_second: 'max-rate',
  l3af_map_rate_avg_per_second: 'avg-rate',
};

/** Groups the agent's per-program series (labels interface, direction, program) into one row per program. */
export function programSummaries(families: readonly Family[]): ProgramSummary[] {
  const rows = new Map<string, ProgramSummary>();
  const row = (l: Record<string, string>): ProgramSummary | undefined => {
    if (l.program === undefined || l.interface === undefined) return undefined;
    const k = `${l.interface}\0${l.direction ?? ''}\0${l.program}`;
    let r = rows.get(k);
    if (!r) {
      r = { interface: l.interface, direction: l.direction ?? '', program: l.program, version: '', starts: 0, stops: 0, updates: 0, updateFailures: 0, deployFailures: 0, maps: [] };
      rows.set(k, r);
    }
    return r;
  };
  for (const f of families) {
    for (const s of f.samples) {
      if (f.name === 'l3af_program_running') {
        const r = row(s.labels);
        if (r) {
          r.running = s.value;
          r.version = s.labels.version ?? r.version;
        }
      } else if (COUNTERS[f.name] !== undefined && s.name === f.name) {
        const r = row(s.labels);
        if (r) r[COUNTERS[f.name]!] += s.value;
      } else if (f.name === 'l3af_program_runs_total') {
        const r = row(s.labels);
        if (r) r.runs = (r.runs ?? 0) + s.value;
      } else if (MAPS[f.name] !== undefined) {
        const r = row(s.labels);
        if (r) r.maps.push({ map: s.labels.map ?? '', key: s.labels.key ?? '', aggregator: MAPS[f.name]!, value: s.value });
      }
    }
  }
  return [...rows.values()].sort((a, b) => a.interface.localeCompare(b.interface) || a.direction.localeCompare(b.direction) || a.program.localeCompare(b.program));
}
