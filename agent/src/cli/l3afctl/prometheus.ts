/** A small reader of the Prometheus text format, for `l3afctl metrics`. */

/** One metric family: type, help, samples. */
export interface Family {
  name: string;
  type: string;
  help: string;
  samples: { name: string; labels: string; value: number }[];
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
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const name = m[1] ?? '';
    const fam = current && name.startsWith(current.name) ? current : familyOf(name);
    fam.samples.push({ name, labels: m[2] ?? '', value: Number(m[3]) });
  }
  return [...families.values()];
}
