// Single instance on running agents: a second agent with the same PID file, or the same state directory, is refused
// naming the first one's pid; stale files (dead pid; pid of another program, with and without a recorded start time)
// are taken over with a log line; a clean stop removes both files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PrivateBpffs, skipUnless } from '../harness/index.ts';
import { StateDir } from '../engine/helpers.ts';
import { agentConfig, listening, spawnAgent } from '../harness/agent-process.ts';
import { freePort } from '../harness/net.ts';
import { parseRecord, staleReason, startTimeOf } from '../../agent/src/instance/index.ts';
import { commandLineOf } from '../../agent/src/instance/process-identity.ts';

const skip = await skipUnless('root', 'bpffs');

test('a second agent with the same PID file or state dir is refused naming the pid; a clean stop removes both files', { skip, timeout: 120_000 }, async () => {
  await using bpffs = await PrivateBpffs.create();
  using state = new StateDir();
  const pidFile = join(state.path, 'run', 'l3afd.pid');
  const dirA = join(state.path, 'a');
  const dirB = join(state.path, 'b');
  mkdirSync(dirA);
  mkdirSync(dirB);
  const a = spawnAgent(agentConfig({ stateDir: dirA, pinRoot: bpffs.path, port: await freePort(), pidFile }));
  try {
    await listening(a);
    const pidA = a.child.pid ?? 0;
    assert.equal(readFileSync(pidFile, 'utf8'), `${pidA}\n`, 'the PID file holds the pid alone, as l3afd writes it');
    const sh = spawnSync('sh', ['-c', '[ $(cat "$1") -eq "$2" ]', 'sh', pidFile, String(pidA)], { encoding: 'utf8' });
    assert.equal(sh.status, 0, `[ $(cat pidfile) -eq $pid ] works: ${sh.stderr}`);
    const lock = join(dirA, 'agent.lock');
    assert.deepEqual(parseRecord(readFileSync(lock, 'utf8'), lock), { pid: pidA, startTime: startTimeOf(pidA) }, 'the start time is kept in the state lock');

    // same PID file, own state dir and port
    const b = spawnAgent(agentConfig({ stateDir: dirB, pinRoot: bpffs.path, port: await freePort(), pidFile }));
    const eb = await b.exited;
    assert.equal(eb.code, 1);
    assert.match(b.stderr.join(''), new RegExp(`another agent \\(pid ${pidA}\\) is running with the same PID file \\(${pidFile.replace(/[.]/g, '\\.')}\\)`));
    // same state dir, own PID file and port
    const c = spawnAgent(agentConfig({ stateDir: dirA, pinRoot: bpffs.path, port: await freePort(), pidFile: join(dirB, 'other.pid') }));
    const ec = await c.exited;
    assert.equal(ec.code, 1);
    assert.match(c.stderr.join(''), new RegExp(`another agent \\(pid ${pidA}\\) is running with the same state directory`));
    assert.equal(existsSync(join(dirB, 'other.pid')), false, 'the refused agent left no PID file behind');
    assert.equal(parseRecord(readFileSync(pidFile, 'utf8'), pidFile)?.pid, pidA, 'the refused agents did not touch the PID file');

    a.child.kill('SIGTERM');
    assert.deepEqual(await a.exited, { code: 0, signal: null });
    assert.equal(existsSync(pidFile), false, 'PID file removed on a clean stop');
    assert.equal(existsSync(join(dirA, 'agent.lock')), false, 'state lock removed on a clean stop');
  } finally {
    await a.kill();
  }
});

test('stale files are taken over: a dead pid, a pid now used by another program (start time or executable differs)', { skip, timeout: 120_000 }, async () => {
  await using bpffs = await PrivateBpffs.create();
  using state = new StateDir();
  const pidFile = join(state.path, 'l3afd.pid');
  const lockFile = join(state.path, 'agent.lock');
  const dead = spawnSync('true').pid ?? 0;
  assert.equal(startTimeOf(dead), undefined, 'the pid is not running any more');
  const sleeper = spawn('sleep', ['120'], { stdio: 'ignore' });
  const other = sleeper.pid ?? 0;
  try {
    assert.match(staleReason({ pid: other }) ?? '', /another program \(.*sleep\)/);
    assert.match(staleReason({ pid: other, startTime: '1' }) ?? '', /now belongs to another process/);
    assert.equal(staleReason({ pid: process.pid, startTime: startTimeOf(process.pid) }), undefined, 'a live recorded process is not stale');

    // 1: PID file with a dead pid (as l3afd writes it: the pid alone), state lock held by another program's pid
    writeFileSync(pidFile, `${dead}\n`);
    writeFileSync(lockFile, `${other}\n`);
    const port = await freePort();
    const cfg = agentConfig({ stateDir: state.path, pinRoot: bpffs.path, port, pidFile });
    let agent = spawnAgent(cfg);
    try {
      await listening(agent);
      const taken = agent.lines.filter((l) => typeof l.msg === 'string' && /^stale .* taken over$/.test(l.msg));
      assert.deepEqual(taken.map((l) => [l.msg, l.stalePid]).sort(), [['stale PID file taken over', dead], ['stale state directory taken over', other]]);
      assert.match(String(taken.find((l) => l.stalePid === dead)?.reason), new RegExp(`process ${dead} is not running`));
      assert.equal(parseRecord(readFileSync(pidFile, 'utf8'), pidFile)?.pid, agent.child.pid);
      agent.child.kill('SIGTERM');
      assert.equal((await agent.exited).code, 0);

      // 2: PID file naming a live pid whose start time is not the recorded one (the pid was reused)
      writeFileSync(pidFile, `${other}\nstart-time 1\n`);
      agent = spawnAgent(cfg);
      await listening(agent);
      const reused = agent.lines.find((l) => l.msg === 'stale PID file taken over');
      assert.equal(reused?.stalePid, other);
      assert.match(String(reused?.reason), /now belongs to another process/);
      assert.equal(sleeper.exitCode, null, 'the other program was left alone');
      agent.child.kill('SIGTERM');
      assert.equal((await agent.exited).code, 0);

      // 3: PID file with the pid alone naming a live node process that looks like an agent (main.ts on its
      //    command line): the start time the state lock recorded for that pid tells it is another process
      const lookalike = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 120000)', 'main.ts'], { stdio: 'ignore' });
      try {
        const lid = lookalike.pid ?? 0;
        for (let i = 0; i < 200 && !(commandLineOf(lid) ?? []).includes('main.ts'); i++) await new Promise((r) => setTimeout(r, 10));
        assert.equal(staleReason({ pid: lid }), undefined, 'without a start time it would pass for an agent');
        writeFileSync(pidFile, `${lid}\n`);
        writeFileSync(lockFile, `${lid}\nstart-time 1\n`);
        agent = spawnAgent(cfg);
        await listening(agent);
        const judged = agent.lines.filter((l) => typeof l.msg === 'string' && /^stale .* taken over$/.test(l.msg));
        assert.deepEqual(judged.map((l) => [l.msg, l.stalePid]).sort(), [['stale PID file taken over', lid], ['stale state directory taken over', lid]]);
        assert.match(String(judged.find((l) => l.msg === 'stale PID file taken over')?.reason), /now belongs to another process/);
        assert.equal(readFileSync(pidFile, 'utf8'), `${agent.child.pid}\n`);
        assert.equal(lookalike.exitCode, null, 'the look-alike was left alone');
        agent.child.kill('SIGTERM');
        const ex = await agent.exited;
        assert.equal(ex.code, 0, `${JSON.stringify(ex)} ${agent.stderr.join('')} ${JSON.stringify(agent.lines.slice(-5))}`);
      } finally {
        lookalike.kill('SIGKILL');
      }
    } finally {
      await agent.kill();
    }
  } finally {
    sleeper.kill('SIGKILL');
  }
});
