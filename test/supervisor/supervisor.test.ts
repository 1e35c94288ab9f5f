// The supervisor with real processes (the shell fixtures in ./fixtures): contract args received, logs captured
// and rotated, crash → restart with measured exponential backoff, budget exhausted → failed, healthy runs reset
// the budget, SIGTERM → SIGKILL escalation (measured), cmd_stop / cmd_status, one-shots, adoption after an agent
// restart and refusal to signal a reused pid.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Supervisor, SupervisorError, type SupervisorOptions } from '../../agent/src/supervisor/index.ts';
import { Events, alive, sleep, spec, until, workdir } from './helpers.ts';

type Workdir = ReturnType<typeof workdir>;
const made = new Map<Workdir, Supervisor[]>();

function sup(w: Workdir, over: Partial<SupervisorOptions> = {}): Supervisor {
  const s = new Supervisor({ stateFile: w.state, logDir: w.logs, startGraceMs: 100, stopTimeoutMs: 2000, pollMs: 50, limits: { mode: 'rlimit' }, ...over });
  made.get(w)?.push(s);
  return s;
}

/** A work folder whose supervisors are stopped (stopAll) before it is removed, after the test. */
function setup(t: { after(fn: () => Promise<void>): void }): Workdir {
  const w = workdir();
  made.set(w, []);
  t.after(async () => {
    for (const s of made.get(w) ?? []) await s.stopAll().catch(() => undefined);
    made.delete(w);
    w[Symbol.dispose]();
  });
  return w;
}

test('a daemon gets the contract args, logs go to per-program files, stop = SIGTERM to its group', async (t) => {
  const w = setup(t);
  const ev = new Events();
  const s = sup(w, { onEvent: ev.on });
  t.after(() => s.stopAll());
  const sp = spec(w.pkg, w.logs, { start_args: { ports: '80,8080', rate: 2 } });
  const st = await s.start(sp);
  assert.equal(st.state, 'running');
  assert.equal(st.running, true);
  assert.ok(st.pid && alive(st.pid));
  assert.equal(st.pgid, st.pid, 'leads its own process group');
  const stat = readFileSync(`/proc/${st.pid}/stat`, 'utf8');
  assert.equal(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19], st.startTime, 'start time = field 22');
  await until(() => readFileSync(st.logs.stdout, 'utf8').includes('args:'), 2000, 'stdout line');
  assert.equal(readFileSync(st.logs.stdout, 'utf8').trim(), `args: --iface=lo --direction=xdpingress --version=1_0_0 --log-dir=${w.logs} --ports=80,8080 --rate=2`);
  assert.match(readFileSync(st.logs.stderr, 'utf8'), new RegExp(`^pid ${st.pid} mode run`));
  assert.deepEqual((await s.start(sp)).pid, st.pid, 'starting the same spec again changes nothing');
  const recorded = JSON.parse(readFileSync(w.state, 'utf8')) as { programs: Array<{ pid: number; startTime: string }> };
  assert.deepEqual(recorded.programs.map((p) => [p.pid, p.startTime]), [[st.pid, st.startTime]], 'state file records pid and start time');
  // the sleep child of the shell is in the same group and goes too
  const members = readFileSync('/proc/' + st.pid + '/task/' + st.pid + '/children', 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  const t0 = Date.now();
  const fin = await s.stop(sp.key);
  const ms = Date.now() - t0;
  assert.equal(fin?.lastExit?.signal, 'SIGTERM');
  assert.ok(ms < 1000, `stopped by SIGTERM in ${ms} ms`);
  assert.equal(alive(st.pid as number), false);
  for (const m of members) await until(() => !alive(m), 1000, `group member ${m} gone`);
  assert.equal(s.snapshot(sp.key), undefined);
  assert.deepEqual((JSON.parse(readFileSync(w.state, 'utf8')) as { programs: unknown[] }).programs, []);
  assert.deepEqual(ev.of('exited').map((e) => e.expected), [true]);
  t.diagnostic(`SIGTERM stop took ${ms} ms`);
});

test('crash → restarts with exponential backoff (measured), then gives up when the budget is spent', async (t) => {
  const w = setup(t);
  const ev = new Events();
  const s = sup(w, { onEvent: ev.on, restart: { initialDelayMs: 200, factor: 2, maxDelayMs: 5000, maxRestarts: 3, windowMs: 60_000, healthyAfterMs: 30_000 } });
  t.after(() => s.stopAll());
  const sp = spec(w.pkg, w.logs, {}, { FIXTURE_MODE: 'crash', FIXTURE_CRASH_AFTER: '0.3' });
  await s.start(sp);
  await until(() => ev.of('gave-up').length === 1, 10_000, 'gave-up');
  const exits = ev.of('exited');
  const starts = ev.of('started');
  assert.equal(starts.length, 4, 'first start + 3 restarts');
  assert.deepEqual(exits.map((e) => e.code), [3, 3, 3, 3]);
  assert.deepEqual(ev.of('restart-scheduled').map((e) => e.delayMs), [200, 400, 800]);
  const measured = [1, 2, 3].map((i) => (starts[i] as { at: number }).at - (exits[i - 1] as { at: number }).at);
  for (const [i, want] of [200, 400, 800].entries()) {
    const got = measured[i] as number;
    assert.ok(got >= want - 5 && got < want + 250, `restart ${i + 1}: waited ${got} ms, wanted ${want}`);
  }
  t.diagnostic(`measured restart delays: ${measured.join(', ')} ms (policy 200, 400, 800)`);
  const st = s.snapshot(sp.key);
  assert.equal(st?.state, 'failed');
  assert.equal(st?.running, false);
  assert.equal(st?.restarts, 3);
  assert.equal(st?.lastExit?.code, 3);
  assert.match(st?.lastError ?? '', /^gave up after 3 restarts within 60000 ms; last: exited with code 3: .*fatal: simulated crash/s);
  await sleep(500);
  assert.equal(ev.of('started').length, 4, 'no restart after giving up');
});

test('a run longer than healthyAfterMs resets the restart budget (never gives up)', async (t) => {
  const w = setup(t);
  const ev = new Events();
  const s = sup(w, { onEvent: ev.on, restart: { initialDelayMs: 150, factor: 2, maxDelayMs: 5000, maxRestarts: 2, windowMs: 60_000, healthyAfterMs: 250 } });
  t.after(() => s.stopAll());
  const sp = spec(w.pkg, w.logs, {}, { FIXTURE_MODE: 'crash', FIXTURE_CRASH_AFTER: '0.35' });
  await s.start(sp);
  await until(() => ev.of('exited').length >= 5, 10_000, 'five crashes');
  assert.equal(ev.of('gave-up').length, 0, 'budget of 2 never exhausted after 5 crashes');
  assert.ok(ev.of('restart-scheduled').every((e) => e.delayMs === 150 && e.attempt === 1), 'each delay is the initial one');
  assert.ok((s.snapshot(sp.key)?.restarts ?? 0) >= 4);
});

test('kill -9 of the daemon: restarted and counted, last exit SIGKILL', async (t) => {
  const w = setup(t);
  const ev = new Events();
  const s = sup(w, { onEvent: ev.on, restart: { initialDelayMs: 100 } });
  t.after(() => s.stopAll());
  const sp = spec(w.pkg, w.logs);
  const first = await s.start(sp);
  process.kill(first.pid as number, 'SIGKILL');
  await until(() => ev.of('started').length === 2, 3000, 'restart');
  await until(() => s.snapshot(sp.key)?.state === 'running', 1000, 'running');
  const st = s.snapshot(sp.key);
  assert.equal(st?.restarts, 1);
  assert.equal(st?.lastExit?.signal, 'SIGKILL');
  assert.notEqual(st?.pid, first.pid);
  assert.equal(st?.running, true);
});

test('a daemon ignoring SIGTERM is SIGKILLed after stopTimeoutMs (measured)', async (t) => {
  const w = setup(t);
  const s = sup(w, { stopTimeoutMs: 700 });
  t.after(() => s.stopAll());
  const sp = spec(w.pkg, w.logs, {}, { FIXTURE_MODE: 'ignore-term' });
  const st = await s.start(sp);
  const t0 = Date.now();
  const fin = await s.stop(sp.key);
  const ms = Date.now() - t0;
  assert.equal(fin?.lastExit?.signal, 'SIGKILL');
  assert.ok(ms >= 700 && ms < 1200, `stop took ${ms} ms with a 700 ms timeout`);
  assert.equal(alive(st.pid as number), false);
  t.diagnostic(`SIGTERM ignored; SIGKILL after ${ms} ms (timeout 700 ms)`);
});

test('cmd_stop with stop args, cmd_status RUNNING (trimmed, any case) or not', async (t) => {
  const w = setup(t);
  const s = sup(w);
  t.after(() => s.stopAll());
  const pidfile = join(w.dir, 'daemon.pid');
  const argsOut = join(w.dir, 'cmd-args.txt');
  const env = { FIXTURE_PIDFILE: pidfile, FIXTURE_ARGS_OUT: argsOut, FIXTURE_STATUS: 'Running' };
  const sp = spec(w.pkg, w.logs, { cmd_stop: 'stop.sh', cmd_status: 'status.sh', stop_args: { mode: 'graceful' }, status_args: { verbose: 2 } }, env);
  const st = await s.start(sp);
  await until(() => existsSync(pidfile), 2000, 'pid file');
  const status = await s.status(sp.key);
  assert.equal(status?.running, true);
  assert.equal(status?.statusOutput, 'Running');
  assert.equal(readFileSync(argsOut, 'utf8').trim(), '--verbose=2');
  const other = spec(w.pkg, w.logs, { cmd_status: 'status.sh' }, { FIXTURE_STATUS: 'STOPPED' }, `${sp.key}-b`);
  await s.start(other);
  const notRunning = await s.status(other.key);
  assert.equal(notRunning?.running, false, 'alive but cmd_status does not say RUNNING');
  assert.equal(notRunning?.statusOutput, 'STOPPED');
  const fin = await s.stop(sp.key);
  assert.equal(readFileSync(argsOut, 'utf8').trim(), '--iface=lo --direction=xdpingress --mode=graceful');
  assert.equal(fin?.lastExit?.signal, 'SIGTERM', 'ended by cmd_stop (its kill -TERM)');
  assert.equal(alive(st.pid as number), false);
});

test('one-shot: exit 0 completes; non-zero fails with its code and stderr tail; a daemon dying at start fails', async (t) => {
  const w = setup(t);
  const s = sup(w);
  t.after(() => s.stopAll());
  const ok = await s.start(spec(w.pkg, w.logs, { cmd_start: 'oneshot.sh', user_program_daemon: false }, {}, 'one-ok'));
  assert.equal(ok.state, 'completed');
  assert.equal(ok.lastExit?.code, 0);
  await assert.rejects(s.start(spec(w.pkg, w.logs, { cmd_start: 'oneshot.sh', user_program_daemon: false }, { FIXTURE_EXIT: '7' }, 'one-bad')),
    (e: Error) => e instanceof SupervisorError && e.code === 7 && /error: bad configuration \(exit 7\)/.test(e.stderrTail) && /one-shot exited with code 7/.test(e.message));
  const bad = s.snapshot('one-bad');
  assert.equal(bad?.state, 'failed');
  assert.equal(bad?.lastExit?.code, 7);
  await assert.rejects(s.start(spec(w.pkg, w.logs, { cmd_start: '../oneshot.sh' }, {}, 'escape')), /leaves the package folder/);
  await assert.rejects(s.start(spec(w.pkg, w.logs, {}, { FIXTURE_MODE: 'crash', FIXTURE_CRASH_AFTER: '0' }, 'early')),
    (e: Error) => e instanceof SupervisorError && e.code === 3 && /exited with code 3 during start: .*simulated crash/s.test(e.message));
});

test('logs rotate by size and keep N files', async (t) => {
  const w = setup(t);
  const s = sup(w, { rotation: { maxBytes: 8192, keep: 2 }, pollMs: 30 });
  t.after(() => s.stopAll());
  const sp = spec(w.pkg, w.logs, {}, { FIXTURE_MODE: 'chatty' });
  const st = await s.start(sp);
  await until(() => existsSync(`${st.logs.stdout}.2`), 10_000, 'second rotation');
  await sleep(200);
  await s.stop(sp.key);
  assert.equal(existsSync(`${st.logs.stdout}.3`), false, 'keeps 2');
  for (const f of [`${st.logs.stdout}.1`, `${st.logs.stdout}.2`]) {
    const size = statSync(f).size;
    assert.ok(size > 8192 && size < 8192 * 8, `${f}: ${size} bytes`);
    const lines = readFileSync(f, 'utf8').split('\n').filter(Boolean);
    assert.ok(lines.every((l) => /^(line \d{8} x+|args: .*)$/.test(l) || l.startsWith('line')), 'only the program output');
  }
  const n = (f: string): number => Number(/line (\d{8})/.exec(readFileSync(f, 'utf8'))?.[1]);
  assert.ok(n(`${st.logs.stdout}.2`) < n(`${st.logs.stdout}.1`), 'older generation has older lines');
});

test('agent restart: a new Supervisor adopts the recorded daemon, supervises it, and stops it', async (t) => {
  const w = setup(t);
  const a = sup(w);
  const sp = spec(w.pkg, w.logs);
  const st = await a.start(sp);
  a.close(); // the agent goes away; the daemon keeps running
  t.after(() => { if (alive(st.pid as number)) process.kill(-(st.pid as number), 'SIGKILL'); });
  await sleep(100);
  assert.equal(alive(st.pid as number), true);
  const ev = new Events();
  const b = sup(w, { onEvent: ev.on, restart: { initialDelayMs: 100 } });
  const report = await b.recover();
  assert.deepEqual(report, { adopted: [sp.key], stopped: [], gone: [], reused: [] });
  const adopted = b.snapshot(sp.key);
  assert.equal(adopted?.pid, st.pid);
  assert.equal(adopted?.adopted, true);
  assert.equal(adopted?.running, true);
  // its crash is noticed by polling and it is restarted
  process.kill(st.pid as number, 'SIGKILL');
  await until(() => ev.of('started').length === 1, 3000, 'restart of the adopted daemon');
  await until(() => b.snapshot(sp.key)?.state === 'running', 1000, 'running again');
  assert.equal(b.snapshot(sp.key)?.restarts, 1);
  const fresh = b.snapshot(sp.key)?.pid as number;
  // a third agent decides it is no longer wanted: stopped by pid + start time
  b.close();
  const c = sup(w);
  const r2 = await c.recover(() => 'stop');
  assert.deepEqual(r2.stopped, [sp.key]);
  assert.equal(alive(fresh), false);
});

test('a recorded pid whose start time differs is someone else\'s process: never signalled', async (t) => {
  const w = setup(t);
  const a = sup(w);
  const sp = spec(w.pkg, w.logs);
  const st = await a.start(sp);
  a.close();
  t.after(() => { if (alive(st.pid as number)) process.kill(-(st.pid as number), 'SIGKILL'); });
  const doc = JSON.parse(readFileSync(w.state, 'utf8')) as { programs: Array<{ startTime: string }> };
  (doc.programs[0] as { startTime: string }).startTime = String(Number(st.startTime) - 1);
  writeFileSync(w.state, JSON.stringify(doc));
  const b = sup(w);
  const report = await b.recover(() => 'stop');
  assert.deepEqual(report.reused, [{ key: sp.key, pid: st.pid, recorded: String(Number(st.startTime) - 1), actual: st.startTime }]);
  assert.deepEqual(report.stopped, []);
  assert.equal(b.snapshot(sp.key), undefined);
  await sleep(200);
  assert.equal(alive(st.pid as number), true, 'the process with the reused pid is untouched');
  b.close();
});
