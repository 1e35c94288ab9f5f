/**
 * Reader for l3afd's `l3afd.cfg` dialect (robfig/config, close to Python's configparser), built
 * on the `ini` package. The text is first normalised line by line where the dialects differ,
 * then handed to `ini.decode`, then `%(name)s` references are expanded:
 *
 * - `key: value` and `key = value` (the first `:` or `=` separates key and value);
 * - `#` and `;` start a comment anywhere on a line, including after a value or a section header;
 * - leading and trailing whitespace is trimmed; a line without a separator continues the value
 *   of the previous key (joined with a newline);
 * - lines before the first section header belong to `[DEFAULT]`;
 * - an option missing from an existing section falls back to `[DEFAULT]`;
 * - `%(name)s` expands to option `name` of the same section, else of `[DEFAULT]` (nested, at
 *   most 10 levels);
 * - section and option names are case-sensitive; a repeated section header adds to the section
 *   (a repeated option: the last one wins).
 *
 * `ini` would otherwise turn `true`/`false` into booleans, strip quotes, treat `key[]` as arrays
 * and nest dotted section names; every value and name is therefore passed to it JSON-quoted and
 * dots in section names escaped, so values come back as the exact strings of the file.
 */
import ini from 'ini';

/** Name of the fallback section. */
export const DEFAULT_SECTION = 'DEFAULT';

/** A syntax or interpolation problem, with the 1-based line where it was found (0 if unknown). */
export interface IniProblem {
  line: number;
  /** `section.key` when the problem concerns one option. */
  key?: string;
  message: string;
}

/** A parsed configuration: sections in file order, with `[DEFAULT]` fallback and expansion. */
export class IniDocument {
  /** Raw (unexpanded) options per section, including `DEFAULT` if present. */
  readonly sections: ReadonlyMap<string, ReadonlyMap<string, string>>;

  constructor(sections: Map<string, Map<string, string>>) {
    this.sections = sections;
  }

  /** Whether a section header with this exact name exists (`DEFAULT` included). */
  hasSection(name: string): boolean {
    return this.sections.has(name);
  }

  /** Section names in file order, without `DEFAULT`. */
  sectionNames(): string[] {
    return [...this.sections.keys()].filter((s) => s !== DEFAULT_SECTION);
  }

  /** Option names set directly in a section (not inherited from `DEFAULT`). */
  ownKeys(section: string): string[] {
    return [...(this.sections.get(section)?.keys() ?? [])];
  }

  /** Whether `key` is set directly in `section`. */
  hasOwn(section: string, key: string): boolean {
    return this.sections.get(section)?.has(key) ?? false;
  }

  /**
   * Expanded value of `section.key`, falling back to `[DEFAULT]` when the section exists but
   * lacks the option; `undefined` when absent. Throws {@link IniError} on a bad `%(name)s`.
   */
  get(section: string, key: string): string | undefined {
    const raw = this.lookup(section, key);
    return raw === undefined ? undefined : this.expand(section, key, raw, 0);
  }

  private lookup(section: string, key: string): string | undefined {
    const s = this.sections.get(section);
    if (!s) return undefined;
    return s.get(key) ?? this.sections.get(DEFAULT_SECTION)?.get(key);
  }

  private expand(section: string, key: string, value: string, depth: number): string {
    if (!value.includes('%(')) return value;
    if (depth >= 10) {
      throw new IniError([{ line: 0, key: `${section}.${key}`, message: 'interpolation nested deeper than 10 levels (a reference loop?)' }]);
    }
    return value.replace(/%\(([^)]+)\)s/g, (_m, name: string) => {
      const ref = this.lookup(section, name) ?? this.sections.get(DEFAULT_SECTION)?.get(name);
      if (ref === undefined) {
        throw new IniError([{ line: 0, key: `${section}.${key}`, message: `%(${name})s refers to an option that is not set in [${section}] or [DEFAULT]` }]);
      }
      return this.expand(section, name, ref, depth + 1);
    });
  }
}

/** Thrown for unreadable INI text; lists every problem found. */
export class IniError extends Error {
  readonly problems: IniProblem[];
  constructor(problems: IniProblem[]) {
    super(problems.map((p) => `${p.line > 0 ? `line ${p.line}: ` : ''}${p.key ? `${p.key}: ` : ''}${p.message}`).join('\n'));
    this.name = 'IniError';
    this.problems = problems;
  }
}

interface Entry { section: string; key?: string; value?: string }

/** Removes a comment: everything from the first `#` or `;`. */
function stripComment(line: string): string {
  const i = line.search(/[#;]/);
  return i === -1 ? line : line.slice(0, i);
}

/** Parses l3afd.cfg text. Throws {@link IniError} listing every syntax problem. */
export function parseIni(text: string): IniDocument {
  const problems: IniProblem[] = [];
  const entries: Entry[] = [];
  let section = DEFAULT_SECTION;
  let last: Entry | undefined;
  const lines = text.split(/\r\n|\n|\r/);
  lines.forEach((raw, idx) => {
    const lineNo = idx + 1;
    const t = stripComment(raw).trim();
    if (t === '') return;
    if (t.startsWith('[')) {
      if (!t.endsWith(']') || t.length < 3 || t.slice(1, -1).trim() === '' || /[[\]]/.test(t.slice(1, -1))) {
        problems.push({ line: lineNo, message: `malformed section header "${t}"` });
        return;
      }
      section = t.slice(1, -1).trim();
      entries.push({ section });
      last = undefined;
      return;
    }
    const sep = t.search(/[:=]/);
    if (sep > 0) {
      last = { section, key: t.slice(0, sep).trim(), value: t.slice(sep + 1).trim() };
      entries.push(last);
    } else if (sep === 0) {
      problems.push({ line: lineNo, message: `option without a name: "${t}"` });
    } else if (last) {
      last.value = `${last.value ?? ''}\n${t}`;
    } else {
      problems.push({ line: lineNo, message: `expected "key: value" or "key = value", got "${t}"` });
    }
  });
  if (problems.length > 0) throw new IniError(problems);

  // Hand the normalised text to `ini`: quoted names and values come back verbatim, escaped dots
  // keep dotted section names flat. Options before the first header follow the leading [DEFAULT].
  const escSection = (s: string) => s.replace(/\\/g, '\\\\').replace(/\./g, '\\.');
  const out: string[] = [`[${DEFAULT_SECTION}]`];
  for (const e of entries) {
    out.push(e.key === undefined ? `[${escSection(e.section)}]` : `${JSON.stringify(e.key)}=${JSON.stringify(e.value ?? '')}`);
  }
  // bracketedArray=false: a key ending in [] is an ordinary key; a repeated key becomes an array (last one wins below).
  const decoded = ini.decode(out.join('\n'), { bracketedArray: false }) as Record<string, unknown>;
  const sections = new Map<string, Map<string, string>>();
  const addSection = (name: string, body: unknown) => {
    const m = sections.get(name) ?? new Map<string, string>();
    if (body && typeof body === 'object') {
      for (const [k, v] of Object.entries(body as Record<string, unknown>)) {
        m.set(k, Array.isArray(v) ? String(v[v.length - 1] ?? '') : String(v));
      }
    }
    sections.set(name, m);
  };
  // Keep file order of the section headers.
  for (const e of entries) {
    if (e.key === undefined && !sections.has(e.section)) addSection(e.section, decoded[e.section]);
  }
  const defaults = decoded[DEFAULT_SECTION];
  if (defaults && typeof defaults === 'object' && Object.keys(defaults).length > 0 && !sections.has(DEFAULT_SECTION)) {
    addSection(DEFAULT_SECTION, defaults);
  }
  return new IniDocument(sections);
}
