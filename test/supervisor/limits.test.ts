// Resource limits: the path this machine offers (cgroup v2 with cpu+memory, else prlimit rlimits) checked in
// the kernel's own files, the rlimit fallback forced, and the plan/formatting rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { Limits, LimitsError, Supervisor, cgroupV2Problem, cpuMax } from '../../agent/src/supervisor/index.ts';
import { spec, workdir } from './helpers.ts';

/** RLIMIT lines of /proc/<pid>/limits, read directly. */
function procLimit(pid: number, label: string): string {
  const m = new RegExp(`^${label}\\s+(\\S+)\\s+(\\S+)`, 'm').exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
  return m ? `${m[1]}:${m[2]}` : 'missing';
}

test('cpu.max formatting and plans', () => {
  assert.equal(cpuMax(50), '50000 100000');
  assert.equal(cpuMax(200), '200000 100000');
  assert.equal(cpuMax(0), 'max 100000');
  assert.equal(cpuMax(1, 50_000), '1000 50000', 'never below the kernel minimum of 1 ms');
  assert.throws(() => cpuMax(1.5), /non-negative integer/);
  const forced = new Limits({ mode: 'rlimit' });
  assert.deepEqual(forced.plan('k', { cpu: 0, memory: 0 }).method, 'none');
  const p = forced.plan('k', { cpu: 50, memory: 1 << 30 });
  assert.equal(p.method, 'rlimit');
  assert.deepEqual(p.memory, { requested: 1 << 30, enforcedBy: 'RLIMIT_AS', value: String(1 << 30) });
  assert.equal(p.cpu.enforcedBy, null, 'percent of a CPU has no rlimit equivalent');
  assert.match(p.cpu.note ?? '', /needs cgroup v2.*rlimit-seconds/);
  const compat = new Limits({ mode: 'rlimit', cpuMeaning: 'rlimit-seconds' }).plan('k', { cpu: 30, memory: 0 });
  assert.deepEqual(compat.cpu, { requested: 30, enforcedBy: 'RLIMIT_CPU', value: '30' });
  assert.deepEqual(forced.wrap(compat, '/pkg/x', ['--a=1']), { command: 'prlimit', args: ['--cpu=30:30', '--', '/pkg/x', '--a=1'] }, 'prlimit is told nothing else');
  assert.throws(() => new Limits({ parent: '../escape' }), /plain names/);
  assert.throws(() => forced.plan('k', { cpu: -1, memory: 0 }), /cpu -1: must be a non-negative integer/);
});

test('cgroup v2 detection on this machine, and mode "cgroup" refused clearly when it is unusable', () => {
  const problem = cgroupV2Problem('/sys/fs/cgroup');
  const controllers = existsSync('/sys/fs/cgroup/cgroup.controllers') ? readFileSync('/sys/fs/cgroup/cgroup.controllers', 'utf8').split(/\s+/) : [];
  assert.equal(problem === undefined, controllers.includes('cpu') && controllers.includes('memory'));
  if (problem) {
    assert.throws(() => new Limits({ mode: 'cgroup' }).plan('k', { cpu: 10, memory: 0 }), (e: Error) => e instanceof LimitsError && e.message.startsWith('cgroup limits were asked for but '));
    if (existsSync('/sys/fs/cgroup/unified/cgroup.controllers')) {
      // hybrid hierarchy: cgroup2 is mounted but cpu and memory are bound to v1
      assert.match(cgroupV2Problem('/sys/fs/cgroup/unified') ?? '', /lacks the (cpu and memory|cpu|memory) controller/);
    }
  }
});

test('limits of a running daemon: the path this machine offers, then the rlimit fallback forced', async (t) => {
  const w = workdir();
  const sups: Supervisor[] = [];
  t.after(async () => {
    for (const s of sups) await s.stopAll();
    w[Symbol.dispose]();
  });
  const mem = 2 * 1024 * 1024 * 1024;
  const auto = new Supervisor({ stateFile: w.state, logDir: w.logs, startGraceMs: 100, limits: { parent: `l3af-test-${process.pid}` } });
  sups.push(auto);
  const st = await auto.start(spec(w.pkg, w.logs, { cpu: 50, memory: mem }, {}, 'auto'));
  const pid = st.pid as number;
  if (cgroupV2Problem() === undefined) {
    assert.equal(st.limits?.method, 'cgroup');
    const cg = st.limits?.cgroup as string;
    assert.equal(readFileSync(`${cg}/cpu.max`, 'utf8').trim(), '50000 100000');
    assert.equal(readFileSync(`${cg}/memory.max`, 'utf8').trim(), String(mem));
    assert.ok(readFileSync(`${cg}/cgroup.procs`, 'utf8').split('\n').includes(String(pid)), 'the daemon is in its cgroup');
    t.diagnostic(`cgroup v2: ${cg}`);
  } else {
    assert.equal(st.limits?.method, 'rlimit');
    assert.equal(st.limits?.fallbackReason, cgroupV2Problem());
    assert.equal(procLimit(pid, 'Max address space'), `${mem}:${mem}`);
    assert.equal(st.limits?.cpu.enforcedBy, null);
    assert.deepEqual(auto.observedLimits('auto'), { RLIMIT_CPU: 'unlimited:unlimited', RLIMIT_AS: `${mem}:${mem}` });
    t.diagnostic(`no usable cgroup v2 (${cgroupV2Problem()}): RLIMIT_AS ${procLimit(pid, 'Max address space')}`);
  }
  const forced = new Supervisor({ stateFile: `${w.state}.2`, logDir: w.logs, startGraceMs: 100, limits: { mode: 'rlimit', cpuMeaning: 'rlimit-seconds' } });
  sups.push(forced);
  const f = await forced.start(spec(w.pkg, w.logs, { cpu: 30, memory: mem }, {}, 'forced'));
  assert.equal(f.limits?.method, 'rlimit');
  assert.equal(f.limits?.fallbackReason, 'rlimit mode forced by configuration');
  assert.equal(procLimit(f.pid as number, 'Max cpu time'), '30:30');
  assert.equal(procLimit(f.pid as number, 'Max address space'), `${mem}:${mem}`);
  assert.match(readFileSync(f.logs.stdout, 'utf8'), /^args: --iface=lo/, 'prlimit exec\'d the daemon with its own args');
  assert.equal(readFileSync(`/proc/${f.pid}/comm`, 'utf8').trim(), 'daemon.sh', 'the pid is the daemon itself (prlimit exec\'d it)');
});
