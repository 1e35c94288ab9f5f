/**
 * `l3afctl`: the agent from the command line (`npm run l3afctl -- <command>`).
 *
 *   get [iface] [--status] | add FILE | update FILE | delete [FILE] (--iface --direction --name)
 *   status | events [--iface --program --count N --for 10s] | metrics | packages [--platform p|all]
 *   add/update/delete [--dry-run] [--if-match ETAG] | audit [--iface --since --until --limit --cursor] | revert ID [--if-match ETAG]
 *
 * Global options: --agent URL (default http://localhost:53000), --metrics URL (https when the agent
 * has `[l3af] metrics-tls`), --cert/--key/--ca for mTLS (used for both), --json. Exit codes: 0 ok;
 * 1 the agent refused or failed some programs (also: an event stream that ended before --count);
 * 2 usage or bad input; 3 agent unreachable; 4 TLS or permission (401/403).
 */
import { readFileSync, realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { hostname } from 'node:os';
import { Command, CommanderError, Option } from 'commander';
import { CtlError, EXIT, call, check, errorText, open, type Answer, type ClientOptions } from './l3afctl/client.ts';
import { table } from './l3afctl/format.ts';
import type { CatalogEntry } from '../artifacts/catalog.ts';
import { parsePrometheus, programSummaries } from './l3afctl/prometheus.ts';
import { messageOf } from '../error-message.ts';
import type { DryRunResult, GetInterface, OperationResult } from '../payload/index.ts';

interface Globals extends ClientOptions {
  agent: string;
  metrics: string;
  json?: boolean;
}

const DIRECTIONS = ['xdp_ingress', 'tc_ingress', 'tc_egress', 'probes'] as const;

function out(text: string): void {
  process.stdout.write(`${text}\n`);
}

function agentUrl(g: Globals, path: string): URL {
  let base: URL;
  try {
    base = new URL(g.agent);
  } catch {
    throw new CtlError(EXIT.USAGE, `--agent ${JSON.stringify(g.agent)} is not a URL (e.g. https://host:53000)`);
  }
  return new URL(path, base);
}

function readPayload(file: string): unknown {
  let text: string;
  try {
    text = file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
  } catch (err) {
    throw new CtlError(EXIT.USAGE, `${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new CtlError(EXIT.USAGE, `${file}: not JSON (${messageOf(err)})`);
  }
}

/** Prints a dry run's plan, chains and verifier verdicts; a program that failed to fetch or verify exits 1. */
function printDryRun(a: Answer, what: string, g: Globals): number {
  check(a, what);
  const doc = JSON.parse(a.text) as DryRunResult;
  if (g.json) {
    out(a.text);
  } else {
    out(doc.plan.length === 0 ? 'nothing to do' : table(['IFACE', 'DIRECTION', 'PROGRAM', 'VERSION', 'SEQ', 'ACTION', 'VERIFIER'], doc.plan.map((p) => [
      p.iface, p.direction, p.name, p.version, String(p.seq_id), p.action,
      p.verifier === undefined ? '-' : p.verifier.ok ? `ok${p.verifier.insns === undefined ? '' : ` (${p.verifier.insns} insns)`}` : `REJECTED: ${p.verifier.error ?? ''}`,
    ])));
    for (const c of doc.chains) out(`${c.iface} ${c.direction}: [${c.before.join(', ')}] -> [${c.after.join(', ')}]`);
    for (const p of doc.plan) if (p.verifier?.log) out(`--- ${p.name}: verifier log (last lines)\n${p.verifier.log}`);
    out(`dry run: nothing changed (ETag ${doc.etag})`);
  }
  if (!doc.ok) {
    process.stderr.write(`l3afctl: ${what}: dry run: some programs failed to fetch or verify\n`);
    return EXIT.REFUSED;
  }
  return EXIT.OK;
}

/** Prints an operation's per-program results; 422 (some failed) exits 1. */
function printOperation(a: Answer, what: string, g: Globals): number {
  if (a.status === 412) {
    const current = (JSON.parse(a.text) as { etag?: string }).etag ?? a.etag ?? '?';
    throw new CtlError(EXIT.REFUSED, `${what}: the desired state changed since it was read (current ETag ${current}); nothing was changed — read it again and retry`);
  }
  if (a.status !== 200 && a.status !== 422) check(a, what);
  if (a.etag !== undefined && !g.json) process.stderr.write(`ETag ${a.etag}\n`);
  if (g.json) {
    out(a.text);
  } else {
    const doc = JSON.parse(a.text) as OperationResult;
    out(doc.results.length === 0 ? 'nothing to do' : table(['IFACE', 'DIRECTION', 'PROGRAM', 'OUTCOME', 'REASON'],
      doc.results.map((r) => [r.iface, r.direction, r.name, r.outcome, r.reason ?? ''])));
  }
  if (a.status === 422) {
    process.stderr.write(`l3afctl: ${what}: some programs failed (left as they were)\n`);
    return EXIT.REFUSED;
  }
  return EXIT.OK;
}

/** GET of every interface, or of one; with `status`, each program carries the agent's live status (`?status=true`). */
async function getAll(g: Globals, iface?: string, status = false): Promise<Answer> {
  const a = await call(agentUrl(g, `/l3af/configs/v1${iface === undefined ? '' : `/${encodeURIComponent(iface)}`}${status ? '?status=true' : ''}`), 'GET', g);
  check(a, 'get');
  return a;
}

function statusRows(elements: GetInterface[]): string[][] {
  const rows: string[][] = [];
  for (const e of elements) {
    for (const d of DIRECTIONS) {
      for (const p of e.bpf_programs[d] ?? []) {
        const s = p.status;
        const state = p.admin_status === 'disabled' ? 'disabled' : s === undefined ? '-' : s.last_error ? `error: ${s.last_error}` : s.attached ? 'attached' : 'not attached';
        rows.push([e.iface, d, String(p.seq_id ?? ''), p.name, p.version ?? '', state, String(s?.kernel_prog_id ?? ''), String(s?.restarts ?? '')]);
      }
    }
  }
  return rows;
}

/** Bounds and filters of `l3afctl events`. */
interface EventsOptions {
  iface?: string;
  program?: string;
  /** Stop after this many program events (stats frames are not counted). */
  count?: number;
  /** Stop after this many milliseconds. */
  forMs?: number;
}

/** One SSE frame: `event:` type and the joined `data:` lines; comments separately. */
interface Frame { type: string; data: string; comment?: string }

function parseFrame(block: string): Frame {
  const data: string[] = [];
  let type = 'message';
  let comment: string | undefined;
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) comment = line.slice(1).trim();
    else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    else if (line.startsWith('event:')) type = line.slice(6).trim();
  }
  return { type, data: data.join('\n'), ...(comment !== undefined ? { comment } : {}) };
}

/** A program event as a line: type, interface, program, seq and the decoded record. */
function eventLine(type: string, data: string): string {
  try {
    const e = JSON.parse(data) as { iface?: string; program?: string; direction?: string; seq?: number; data?: unknown };
    if (type === 'stats') return `stats\t${data}`;
    return `${type}\t${e.iface ?? '-'}\t${e.program ?? '-'}\t#${e.seq ?? '?'}\t${JSON.stringify(e.data ?? {})}`;
  } catch {
    return `${type}\t${data}`;
  }
}

async function events(g: Globals, o: EventsOptions): Promise<number> {
  const query = new URLSearchParams();
  if (o.iface !== undefined) query.set('iface', o.iface);
  if (o.program !== undefined) query.set('program', o.program);
  const q = query.toString();
  const url = agentUrl(g, `/l3af/events${q === '' ? '' : `?${q}`}`);
  // the agent writes a stats frame every few seconds and a keep-alive comment every 15 s: the idle timeout holds
  const res = await open(url, 'GET', g);
  if (res.statusCode === 404) {
    res.resume();
    throw new CtlError(EXIT.REFUSED, 'this agent has no event stream (GET /l3af/events: 404)');
  }
  if ((res.statusCode ?? 0) >= 300) {
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    check({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), contentType: '' }, 'events');
  }
  let seen = 0;
  let timedOut = false;
  const timer = o.forMs === undefined ? undefined : setTimeout(() => {
    timedOut = true;
    res.destroy();
  }, o.forMs);
  let buf = '';
  res.setEncoding('utf8');
  try {
    for await (const chunk of res) {
      buf += chunk as string;
      let end: number;
      while ((end = buf.indexOf('\n\n')) >= 0) {
        const f = parseFrame(buf.slice(0, end));
        buf = buf.slice(end + 2);
        if (f.comment?.startsWith('subscribed')) process.stderr.write(`l3afctl: following ${url.href}\n`);
        if (f.data === '') continue;
        if (g.json) {
          let doc: unknown;
          try { doc = JSON.parse(f.data); } catch { doc = f.data; }
          out(JSON.stringify(typeof doc === 'object' && doc !== null ? { type: f.type, ...doc } : { type: f.type, data: doc }));
        } else {
          out(eventLine(f.type, f.data));
        }
        if (f.type !== 'stats' && o.count !== undefined && ++seen >= o.count) {
          res.destroy();
          return EXIT.OK;
        }
      }
    }
  } catch (err) {
    // destroyed by the --for timer; anything else: the agent went away mid-stream
    if (!timedOut) throw new CtlError(EXIT.UNREACHABLE, `event stream from ${url.origin} broke: ${messageOf(err)}`);
  } finally {
    clearTimeout(timer);
  }
  if (o.count !== undefined) {
    process.stderr.write(`l3afctl: events: ${seen} of ${o.count} events ${timedOut ? `within --for ${o.forMs} ms` : 'before the agent ended the stream'}\n`);
    return EXIT.REFUSED;
  }
  return EXIT.OK;
}

/** `--for` durations: 10s, 500ms, 2m, or a bare number of seconds. */
export function parseDuration(v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(v.trim());
  const n = m ? Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 'm' ? 60_000 : 1000) : NaN;
  if (!Number.isFinite(n) || n <= 0 || n > 2_147_483_647) throw new CtlError(EXIT.USAGE, `--for ${v}: a duration such as 10s, 500ms or 2m`);
  return Math.ceil(n);
}

const num = (v: number | undefined): string => (v === undefined ? '-' : Number.isInteger(v) ? String(v) : v.toFixed(2));

async function metrics(g: Globals, o: { families?: boolean }): Promise<number> {
  let url: URL;
  try {
    url = new URL(g.metrics);
  } catch {
    throw new CtlError(EXIT.USAGE, `--metrics ${JSON.stringify(g.metrics)} is not a URL`);
  }
  if (url.pathname === '/' || url.pathname === '') url = new URL('/metrics', url);
  const a = await call(url, 'GET', g);
  check(a, 'metrics');
  const families = parsePrometheus(a.text);
  const programs = programSummaries(families);
  const familyRows = families.map((f) => ({ name: f.name, type: f.type, series: f.samples.length, total: f.samples.reduce((s, x) => s + (Number.isFinite(x.value) ? x.value : 0), 0) }));
  if (g.json) {
    out(JSON.stringify({ url: url.href, programs, families: familyRows }));
    return EXIT.OK;
  }
  const samples = families.reduce((s, f) => s + f.samples.length, 0);
  const ours = familyRows.filter((f) => /^l3af/.test(f.name));
  out(`${url.href}: ${families.length} metric families, ${samples} samples (${ours.length} l3af families), ${programs.length} programs`);
  if (programs.length > 0) {
    out('');
    out(table(['INTERFACE', 'DIRECTION', 'PROGRAM', 'VERSION', 'RUNNING', 'STARTS', 'STOPS', 'UPDATES', 'FAILURES', 'RUNS'], programs.map((p) => [
      p.interface, p.direction, p.program, p.version || '-', p.running === undefined ? 'stopped' : p.running === 1 ? 'yes' : 'no',
      num(p.starts), num(p.stops), num(p.updates), num(p.updateFailures + p.deployFailures), num(p.runs),
    ])));
    const maps = programs.flatMap((p) => p.maps.map((m) => [p.interface, p.program, m.map, m.key, m.aggregator, num(m.value)]));
    if (maps.length > 0) {
      out('');
      out(table(['INTERFACE', 'PROGRAM', 'MAP', 'KEY', 'AGGREGATOR', 'VALUE'], maps));
    }
  }
  if (o.families) {
    out('');
    out(table(['FAMILY', 'TYPE', 'SERIES', 'VALUE/SUM'], ours.map((f) => [f.name, f.type, String(f.series), num(f.total)])));
  }
  return EXIT.OK;
}

interface PackagesAnswer { repository: string; platform: string; packages: CatalogEntry[] }

async function packages(g: Globals, opts: { repo?: string; config?: string; platform?: string }): Promise<number> {
  let answer: PackagesAnswer | undefined;
  let source = '';
  const a = await call(agentUrl(g, `/l3af/packages${opts.platform === undefined ? '' : `?platform=${encodeURIComponent(opts.platform)}`}`), 'GET', g);
  if (a.status !== 404) {
    check(a, 'packages');
    answer = JSON.parse(a.text) as PackagesAnswer;
    source = `${answer.repository} (through ${agentUrl(g, '/l3af/packages').origin})`;
  } else {
    let repo = opts.repo;
    if (repo === undefined && opts.config !== undefined) {
      // imported here: the config schema and the repository client are only needed for this fallback
      const { loadConfigFile } = await import('../config/index.ts');
      try {
        repo = (await loadConfigFile(opts.config)).config.ebpfRepo.url;
      } catch (err) {
        throw new CtlError(EXIT.USAGE, `--config ${opts.config}: ${messageOf(err)}`);
      }
    }
    if (repo === undefined) throw new CtlError(EXIT.USAGE, 'this agent has no package listing (GET /l3af/packages: 404): pass --repo file:///path or --config l3afd.cfg to read the repository directly');
    const platform = opts.platform === 'all' ? undefined : opts.platform;
    const { CatalogError, listPackages } = await import('../artifacts/catalog.ts');
    try {
      answer = { repository: repo, platform: platform ?? 'all', packages: await listPackages(repo, platform === undefined ? {} : { platform }) };
    } catch (err) {
      if (err instanceof CatalogError) throw new CtlError(EXIT.USAGE, `${repo}: ${err.message}`);
      throw err;
    }
    source = `${repo} (read directly)`;
  }
  if (g.json) {
    out(JSON.stringify(answer));
  } else {
    out(`${source}: ${answer.packages.length} packages for platform ${answer.platform}`);
    out(table(['NAME', 'VERSION', 'PLATFORM', 'ARTIFACT', 'SHA256'], answer.packages.map((e) => [e.name, e.version, e.platform, e.artifact, e.sha256 === undefined ? '-' : `${e.sha256.slice(0, 12)}…`])));
  }
  return EXIT.OK;
}

/** Builds the command line; each action resolves to an exit code. */
export function program(setCode: (code: number) => void): Command {
  const cli = new Command()
    .name('l3afctl')
    .description('Command-line client of the l3af agent (l3afd-compatible REST API)')
    .addOption(new Option('--agent <url>', 'agent REST address').default(process.env.L3AF_AGENT ?? 'http://localhost:53000'))
    .addOption(new Option('--metrics <url>', 'metrics address').default(process.env.L3AF_METRICS ?? 'http://localhost:8898/metrics'))
    .option('--cert <file>', 'client certificate (PEM) for mTLS')
    .option('--key <file>', 'client key (PEM) for mTLS')
    .option('--ca <file>', 'CA (PEM) the agent\'s certificate is checked against')
    .option('--json', 'machine-readable output')
    .exitOverride()
    .showHelpAfterError();
  const g = (): Globals => cli.opts<Globals>();
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- commander passes action arguments untyped
  const run = <A extends any[]>(fn: (...args: A) => Promise<number>) => async (...args: A): Promise<void> => setCode(await fn(...args));

  cli.command('get [iface]').description('programs of every interface, or of one (l3afd GET shape)')
    .option('--status', 'each program with the agent\'s live status (GET ?status=true)')
    .action(run(async (iface: string | undefined, o: { status?: boolean }) => {
      const a = await getAll(g(), iface, o.status === true);
      out(g().json ? a.text : JSON.stringify(JSON.parse(a.text), null, 2));
      return EXIT.OK;
    }));
  /** A write: its dry run (--dry-run) or, with --if-match, conditional on the ETag. */
  const write = async (op: 'add' | 'update' | 'delete', body: unknown, o: { dryRun?: boolean; ifMatch?: string }): Promise<number> => {
    const opts = { ...g(), ...(o.ifMatch === undefined ? {} : { headers: { 'if-match': o.ifMatch } }) };
    const a = await call(agentUrl(g(), `/l3af/configs/v1/${op}${o.dryRun === true ? '?dry_run=true' : ''}`), 'POST', opts, body);
    return o.dryRun === true ? printDryRun(a, `${op} --dry-run`, g()) : printOperation(a, op, g());
  };
  for (const op of ['add', 'update'] as const) {
    cli.command(`${op} <file>`).description(op === 'add' ? 'add programs from an l3afd payload file (- = stdin)' : 'set the host\'s whole desired state from a payload file (as l3afd: interfaces it omits are stopped)')
      .option('--dry-run', 'show the plan and the verifier\'s verdict; nothing changes (?dry_run=true)')
      .option('--if-match <etag>', 'apply only if the desired state still has this ETag (from get --json or a previous answer)')
      .action(run(async (file: string, o: { dryRun?: boolean; ifMatch?: string }) => write(op, readPayload(file), o)));
  }
  cli.command('delete [file]').description('remove programs: a delete payload file, or --iface/--direction/--name')
    .option('--iface <name>', 'interface')
    .addOption(new Option('--direction <dir>', 'hook').choices([...DIRECTIONS]).default('xdp_ingress'))
    .option('--name <program...>', 'program name(s)')
    .option('--host <name>', 'host_name of the payload (default: this host)')
    .option('--dry-run', 'show the plan; nothing changes (?dry_run=true)')
    .option('--if-match <etag>', 'delete only if the desired state still has this ETag')
    .action(run(async (file: string | undefined, o: { iface?: string; direction: string; name?: string[]; host?: string; dryRun?: boolean; ifMatch?: string }) => {
      let body: unknown;
      if (file !== undefined) {
        if (o.iface !== undefined || o.name !== undefined) throw new CtlError(EXIT.USAGE, 'delete: give a payload file or --iface/--name, not both');
        body = readPayload(file);
      } else {
        if (o.iface === undefined || o.name === undefined) throw new CtlError(EXIT.USAGE, 'delete: give a payload file, or --iface and --name (and --direction, default xdp_ingress)');
        body = [{ host_name: o.host ?? hostname(), iface: o.iface, bpf_programs: { [o.direction]: o.name } }];
      }
      return write('delete', body, o);
    }));
  cli.command('audit').description('the agent\'s audit log of accepted changes, newest first (GET /l3af/audit)')
    .option('--iface <name>', 'only changes that touched this interface')
    .option('--since <time>', 'ISO 8601: changes at or after')
    .option('--until <time>', 'ISO 8601: changes before')
    .option('--limit <n>', 'entries per page (1..1000, default 100)')
    .option('--cursor <id>', 'the next page (the cursor a previous page printed)')
    .action(run(async (o: { iface?: string; since?: string; until?: string; limit?: string; cursor?: string }) => {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(o)) if (typeof v === 'string') q.set(k, v);
      const a = await call(agentUrl(g(), `/l3af/audit${q.size > 0 ? `?${q.toString()}` : ''}`), 'GET', g());
      check(a, 'audit');
      if (g().json) {
        out(a.text);
        return EXIT.OK;
      }
      const doc = JSON.parse(a.text) as { entries: { id: string; time: string; identity: string; route: string; outcome: string; ifaces: string[]; plan: { action: string; name: string }[]; error?: string }[]; next_cursor: string | null };
      out(doc.entries.length === 0 ? 'no entries' : table(['ID', 'TIME', 'IDENTITY', 'ROUTE', 'OUTCOME', 'IFACES', 'PLAN'], doc.entries.map((e) => [
        e.id, e.time, e.identity, e.route, e.outcome, e.ifaces.join(','), e.plan.filter((p) => p.action !== 'unchanged').map((p) => `${p.action} ${p.name}`).join('; ') || '-',
      ])));
      if (doc.next_cursor !== null) out(`more: l3afctl audit --cursor ${doc.next_cursor}`);
      return EXIT.OK;
    }));
  cli.command('revert <id>').description('apply the desired state the interfaces of audit entry <id> had before that change (POST /l3af/audit/<id>/revert)')
    .option('--if-match <etag>', 'revert only if the desired state still has this ETag')
    .action(run(async (id: string, o: { ifMatch?: string }) => {
      const opts = { ...g(), ...(o.ifMatch === undefined ? {} : { headers: { 'if-match': o.ifMatch } }) };
      return printOperation(await call(agentUrl(g(), `/l3af/audit/${encodeURIComponent(id)}/revert`), 'POST', opts), 'revert', g());
    }));
  cli.command('status').description('a table of every program: interface, direction, seq, program, version, status, kernel id, restarts')
    .action(run(async () => {
      const elements = JSON.parse((await getAll(g(), undefined, true)).text) as GetInterface[];
      const rows = statusRows(elements);
      if (g().json) out(JSON.stringify(rows.map(([iface, direction, seq, program, version, status, kernelId, restarts]) => ({ iface, direction, seq, program, version, status, kernelId, restarts }))));
      else out(rows.length === 0 ? 'no programs' : table(['INTERFACE', 'DIRECTION', 'SEQ', 'PROGRAM', 'VERSION', 'STATUS', 'KERNEL ID', 'RESTARTS'], rows));
      return EXIT.OK;
    }));
  cli.command('events').description('tail the agent\'s live event stream (GET /l3af/events); without --count/--for until interrupted')
    .option('--iface <name>', 'only events of programs on this interface')
    .option('--program <name>', 'only events of this program')
    .option('--count <n>', 'exit 0 after n program events (stats frames not counted); 1 if the stream or --for ends first', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new CtlError(EXIT.USAGE, `--count ${v}: a positive integer`);
      return n;
    })
    .option('--for <duration>', 'exit after this long (10s, 500ms, 2m)', parseDuration)
    .action(run(async (o: { iface?: string; program?: string; count?: number; for?: number }) => events(g(), {
      ...(o.iface !== undefined ? { iface: o.iface } : {}), ...(o.program !== undefined ? { program: o.program } : {}),
      ...(o.count !== undefined ? { count: o.count } : {}), ...(o.for !== undefined ? { forMs: o.for } : {}),
    })));
  cli.command('metrics').description('fetch the metrics endpoint and summarise it per program: running, starts, stops, kernel runs, monitored map values')
    .option('--families', 'also list the l3af metric families')
    .action(run(async (o: { families?: boolean }) => metrics(g(), o)));
  cli.command('packages').description('what the package repository offers (GET /l3af/packages; read the repository directly when the agent has no listing)')
    .option('--platform <name>', 'this platform, or all (default: the agent\'s)')
    .option('--repo <url>', 'when the agent has no listing (404): read this repository directly (file://, or http(s) with an index.json)')
    .option('--config <file>', 'when the agent has no listing (404): read the repository of this agent config ([ebpf-repo] url)')
    .action(run(async (o: { repo?: string; config?: string; platform?: string }) => packages(g(), o)));
  return cli;
}

/** Runs l3afctl on `argv`; resolves to the exit code. */
export async function l3afctl(argv: string[]): Promise<number> {
  let code: number = EXIT.OK;
  const cli = program((c) => { code = c; });
  try {
    await cli.parseAsync(argv);
    return code;
  } catch (err) {
    if (err instanceof CtlError) {
      process.stderr.write(`l3afctl: ${err.message}\n`);
      return err.exitCode;
    }
    if (err instanceof CommanderError) {
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help' ? EXIT.OK : EXIT.USAGE;
    }
    process.stderr.write(`l3afctl: ${messageOf(err)}\n`);
    return EXIT.REFUSED;
  }
}

export { errorText };

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  process.exitCode = await l3afctl(process.argv);
}
