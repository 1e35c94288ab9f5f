/**
 * `l3afctl`: the agent from the command line (`npm run l3afctl -- <command>`).
 *
 *   get [iface] | add FILE | update FILE | delete [FILE] (--iface --direction --name)
 *   status | events | metrics | packages
 *
 * Global options: --agent URL (default http://localhost:53000), --metrics URL, --cert/--key/--ca
 * for mTLS, --json. Exit codes: 0 ok; 1 the agent refused or failed some programs; 2 usage or bad
 * input; 3 agent unreachable; 4 TLS or permission (401/403).
 */
import { readFileSync, realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { hostname } from 'node:os';
import { Command, CommanderError, Option } from 'commander';
import { loadConfigFile } from '../config/index.ts';
import { CtlError, EXIT, call, check, errorText, open, type Answer, type ClientOptions } from './l3afctl/client.ts';
import { table } from './l3afctl/format.ts';
import { listFileRepository, type PackageEntry } from './l3afctl/packages.ts';
import { parsePrometheus } from './l3afctl/prometheus.ts';

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
    throw new CtlError(EXIT.USAGE, `${file}: not JSON (${err instanceof Error ? err.message : String(err)})`);
  }
}

interface ProgramResult { iface: string; direction: string; name: string; outcome: string; reason?: string }

/** Prints an operation's per-program results; 422 (some failed) exits 1. */
function printOperation(a: Answer, what: string, g: Globals): number {
  if (a.status !== 200 && a.status !== 422) check(a, what);
  if (g.json) {
    out(a.text);
  } else {
    const doc = JSON.parse(a.text) as { results: ProgramResult[] };
    out(doc.results.length === 0 ? 'nothing to do' : table(['IFACE', 'DIRECTION', 'PROGRAM', 'OUTCOME', 'REASON'],
      doc.results.map((r) => [r.iface, r.direction, r.name, r.outcome, r.reason ?? ''])));
  }
  if (a.status === 422) {
    process.stderr.write(`l3afctl: ${what}: some programs failed (left as they were)\n`);
    return EXIT.REFUSED;
  }
  return EXIT.OK;
}

interface StatusProgram {
  name: string; seq_id?: number; version?: string; admin_status?: string;
  status?: { attached: boolean; kernel_prog_id: number; restarts: number; last_error: string | null };
}
interface Element { iface: string; bpf_programs: Partial<Record<string, StatusProgram[] | null>> }

async function getAll(g: Globals, iface?: string): Promise<Answer> {
  const a = await call(agentUrl(g, `/l3af/configs/v1${iface === undefined ? '' : `/${encodeURIComponent(iface)}`}`), 'GET', g);
  check(a, 'get');
  return a;
}

function statusRows(elements: Element[]): string[][] {
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

async function events(g: Globals, max: number | undefined): Promise<number> {
  const res = await open(agentUrl(g, '/l3af/events'), 'GET', g);
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
  let buf = '';
  res.setEncoding('utf8');
  for await (const chunk of res) {
    buf += chunk as string;
    let end: number;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
      const type = /^event:\s*(.*)$/m.exec(block)?.[1] ?? 'message';
      if (data === '') continue;
      out(g.json ? data : `${type}\t${data}`);
      if (max !== undefined && ++seen >= max) {
        res.destroy();
        return EXIT.OK;
      }
    }
  }
  return EXIT.OK;
}

async function metrics(g: Globals): Promise<number> {
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
  if (g.json) {
    out(JSON.stringify(families.map((f) => ({ name: f.name, type: f.type, samples: f.samples.length, total: f.samples.reduce((s, x) => s + x.value, 0) }))));
    return EXIT.OK;
  }
  const samples = families.reduce((s, f) => s + f.samples.length, 0);
  const ours = families.filter((f) => /^l3af/.test(f.name));
  out(`${url.href}: ${families.length} metric families, ${samples} samples (${ours.length} l3af families)`);
  const shown = (ours.length > 0 ? ours : families).slice(0, 40);
  out(table(['FAMILY', 'TYPE', 'SERIES', 'VALUE/SUM'], shown.map((f) => [
    f.name, f.type, String(f.samples.length), String(f.samples.reduce((s, x) => s + (Number.isFinite(x.value) ? x.value : 0), 0)),
  ])));
  return EXIT.OK;
}

async function packages(g: Globals, opts: { repo?: string; config?: string }): Promise<number> {
  let entries: PackageEntry[] | undefined;
  let source = '';
  if (opts.repo === undefined && opts.config === undefined) {
    const a = await call(agentUrl(g, '/l3af/packages'), 'GET', g);
    if (a.status !== 404) {
      check(a, 'packages');
      entries = JSON.parse(a.text) as PackageEntry[];
      source = `${g.agent} (GET /l3af/packages)`;
    }
  }
  if (entries === undefined) {
    let repo = opts.repo;
    if (repo === undefined && opts.config !== undefined) {
      try {
        repo = (await loadConfigFile(opts.config)).config.ebpfRepo.url;
      } catch (err) {
        throw new CtlError(EXIT.USAGE, `--config ${opts.config}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (repo === undefined) throw new CtlError(EXIT.USAGE, 'this agent has no package listing (GET /l3af/packages: 404): pass --repo file:///path or --config l3afd.cfg to read the repository directly');
    entries = listFileRepository(repo);
    source = repo;
  }
  if (g.json) {
    out(JSON.stringify(entries));
  } else {
    out(`${source}: ${entries.length} package files`);
    out(table(['NAME', 'VERSION', 'PLATFORM', 'ARTIFACT', 'BYTES', 'SHA256'], entries.map((e) => [e.name, e.version, e.platform, e.artifact, String(e.bytes), e.checksum ? 'yes' : 'no'])));
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
    .action(run(async (iface?: string) => {
      const a = await getAll(g(), iface);
      out(g().json ? a.text : JSON.stringify(JSON.parse(a.text), null, 2));
      return EXIT.OK;
    }));
  for (const op of ['add', 'update'] as const) {
    cli.command(`${op} <file>`).description(op === 'add' ? 'add programs from an l3afd payload file (- = stdin)' : 'set the desired state of the interfaces in a payload file')
      .action(run(async (file: string) => printOperation(await call(agentUrl(g(), `/l3af/configs/v1/${op}`), 'POST', g(), readPayload(file)), op, g())));
  }
  cli.command('delete [file]').description('remove programs: a delete payload file, or --iface/--direction/--name')
    .option('--iface <name>', 'interface')
    .addOption(new Option('--direction <dir>', 'hook').choices([...DIRECTIONS]).default('xdp_ingress'))
    .option('--name <program...>', 'program name(s)')
    .option('--host <name>', 'host_name of the payload (default: this host)')
    .action(run(async (file: string | undefined, o: { iface?: string; direction: string; name?: string[]; host?: string }) => {
      let body: unknown;
      if (file !== undefined) {
        if (o.iface !== undefined || o.name !== undefined) throw new CtlError(EXIT.USAGE, 'delete: give a payload file or --iface/--name, not both');
        body = readPayload(file);
      } else {
        if (o.iface === undefined || o.name === undefined) throw new CtlError(EXIT.USAGE, 'delete: give a payload file, or --iface and --name (and --direction, default xdp_ingress)');
        body = [{ host_name: o.host ?? hostname(), iface: o.iface, bpf_programs: { [o.direction]: o.name } }];
      }
      return printOperation(await call(agentUrl(g(), '/l3af/configs/v1/delete'), 'POST', g(), body), 'delete', g());
    }));
  cli.command('status').description('a table of every program: interface, direction, seq, program, version, status, kernel id, restarts')
    .action(run(async () => {
      const elements = JSON.parse((await getAll(g())).text) as Element[];
      const rows = statusRows(elements);
      if (g().json) out(JSON.stringify(rows.map(([iface, direction, seq, program, version, status, kernelId, restarts]) => ({ iface, direction, seq, program, version, status, kernelId, restarts }))));
      else out(rows.length === 0 ? 'no programs' : table(['INTERFACE', 'DIRECTION', 'SEQ', 'PROGRAM', 'VERSION', 'STATUS', 'KERNEL ID', 'RESTARTS'], rows));
      return EXIT.OK;
    }));
  cli.command('events').description('tail the agent\'s live event stream (GET /l3af/events)')
    .option('--max <n>', 'stop after n events', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new CtlError(EXIT.USAGE, `--max ${v}: a positive integer`);
      return n;
    })
    .action(run(async (o: { max?: number }) => events(g(), o.max)));
  cli.command('metrics').description('fetch the metrics endpoint and print a summary').action(run(async () => metrics(g())));
  cli.command('packages').description('what the package repository offers (the agent\'s listing, else a file:// repository read directly)')
    .option('--repo <url>', 'read this file:// repository directly')
    .option('--config <file>', 'read the repository of this agent config ([ebpf-repo] url)')
    .action(run(async (o: { repo?: string; config?: string }) => packages(g(), o)));
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
    process.stderr.write(`l3afctl: ${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT.REFUSED;
  }
}

export { errorText };

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  process.exitCode = await l3afctl(process.argv);
}
