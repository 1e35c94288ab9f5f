/**
 * `npm run probe`: what this machine's kernel offers l3af, checked by doing it — load the bundled
 * programs, chain them with a tail call, run them with BPF_PROG_TEST_RUN, create a ring buffer —
 * and print the result. Touches no interface; leaves nothing behind.
 */
import { existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { fileURLToPath } from 'node:url';
import { BpfObject, ProgArray, libbpfVersion, xdpActionName, platform, statsEnabled, BpfError } from '../bpf/index.ts';

const BUILD = fileURLToPath(new URL('../../../programs/build/', import.meta.url));

interface Check {
  readonly what: string;
  readonly ok: boolean;
  readonly detail: string;
}

function check(what: string, fn: () => string): Check {
  try {
    return { what, ok: true, detail: fn() };
  } catch (err) {
    const msg = err instanceof BpfError ? `${err.code}: ${err.message.split('\n')[0]}` : (err as Error).message;
    return { what, ok: false, detail: msg };
  }
}

function object(name: string): string {
  const p = `${BUILD}${name}`;
  if (!existsSync(p)) throw new Error(`${p} is missing: run 'npm run build:programs'`);
  return p;
}

function mounted(fsType: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
    .filter((l) => l.split(' - ')[1]?.startsWith(`${fsType} `))
    .map((l) => l.split(' ')[4] ?? '?');
}

const checks: Check[] = [
  check('platform', () => `${platform.name}, kernel ${release()}, libbpf ${libbpfVersion()}`),
  check('BTF', () => {
    if (!existsSync('/sys/kernel/btf/vmlinux')) throw new Error('/sys/kernel/btf/vmlinux missing');
    return '/sys/kernel/btf/vmlinux';
  }),
  check('bpffs', () => {
    const m = mounted('bpf');
    return m.length ? `mounted at ${m.join(', ')}` : 'not mounted (the agent mounts one under its pin root)';
  }),
  check('tracefs', () => (mounted('tracefs').join(', ') || 'not mounted (mounted on demand for tracepoints)')),
  check('kernel run statistics', () => (statsEnabled({ scanProcesses: true }) ? 'collecting' : 'off (enabled by the agent when configured)')),
  check('load + tail call + test_run', () => {
    using root = BpfObject.open(object('xdp_root.bpf.o'));
    root.load();
    using cap = BpfObject.open(object('count_and_pass.bpf.o'));
    cap.load();
    new ProgArray(root.map('xdp_root_array')).set(0, cap.program('xdp_count_and_pass'));
    const r = root.program('xdp_root').testRun({ data: Buffer.alloc(64), repeat: 100_000 });
    return `xdp_root → count_and_pass: ${xdpActionName(r.retval)}, ${r.durationNs} ns/packet`;
  }),
  check('ratelimiting loads', () => {
    using rl = BpfObject.open(object('ratelimiting.bpf.o'));
    rl.load();
    return `${rl.programNames.join(', ')}; maps ${rl.mapNames.filter((m) => !m.includes('.')).join(', ')}`;
  }),
];

let failed = 0;
for (const c of checks) {
  if (!c.ok) failed++;
  process.stdout.write(`${c.ok ? 'ok  ' : 'FAIL'} ${c.what.padEnd(28)} ${c.detail}\n`);
}
process.exitCode = failed ? 1 : 0;
