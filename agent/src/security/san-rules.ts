import { messageOf } from '../error-message.ts';
/**
 * SAN match rules of `[mtls] san-match-rules` (writers) and `[l3af] mtls-reader-san-match-rules`
 * (read-only clients): each rule is a DNS name literal (matched exactly, case-insensitively) or a
 * regular expression matched against the WHOLE name (anchored, case-insensitive; l3afd matched
 * regexes unanchored). Rules are compiled once at start-up; a rule that is neither a host name
 * nor a valid regular expression is a configuration error naming the key.
 *
 * Only the DNS names of the client certificate's subjectAltName are considered (as l3afd).
 */

/** A compiled rule. */
export interface SanRule {
  /** The rule as written. */
  readonly source: string;
  readonly matches: (dnsName: string) => boolean;
}

/** A rule that cannot be compiled. */
export class SanRuleError extends Error {
  constructor(readonly key: string, readonly rule: string, reason: string) {
    super(`${key}: rule ${JSON.stringify(rule)} is neither a DNS name nor a valid regular expression (${reason})`);
    this.name = 'SanRuleError';
  }
}

const HOST_NAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i;

/** Compiles the rules of `key` (the config key, for error messages). */
export function compileSanRules(key: string, rules: readonly string[]): SanRule[] {
  return rules.map((r) => r.trim()).filter((r) => r !== '').map((source) => {
    if (HOST_NAME.test(source)) {
      const want = source.toLowerCase().replace(/\.$/, '');
      return { source, matches: (n: string) => n.toLowerCase().replace(/\.$/, '') === want };
    }
    let re: RegExp;
    try {
      re = new RegExp(`^(?:${source})$`, 'i');
    } catch (err) {
      throw new SanRuleError(key, source, messageOf(err));
    }
    return { source, matches: (n: string) => re.test(n) };
  });
}

/** The DNS names in a node `subjectaltname` string (`DNS:a, IP Address:1.2.3.4, DNS:"b"`). */
export function dnsNamesOf(subjectAltName: string | undefined): string[] {
  if (subjectAltName === undefined || subjectAltName === '') return [];
  const out: string[] = [];
  for (const m of subjectAltName.matchAll(/(?:^|,\s*)DNS:("(?:[^"\\]|\\.)*"|[^,]*)/g)) {
    let name = (m[1] ?? '').trim();
    if (name.startsWith('"')) {
      try { name = JSON.parse(name) as string; } catch { continue; }
    }
    if (name !== '') out.push(name);
  }
  return out;
}

/** Whether any DNS name matches any rule. */
export function anyMatch(rules: readonly SanRule[], dnsNames: readonly string[]): boolean {
  return dnsNames.some((n) => rules.some((r) => r.matches(n)));
}
