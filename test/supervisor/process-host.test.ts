// The platform pair of the supervisor: the Windows half's limit plan (Job Object fields) and the
// choice by platform; the Windows half runs for real under Wine in test/windows/wine.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { processHost } from '../../agent/src/supervisor/process-host.ts';
import { WindowsProcessHost, cpuRateFor } from '../../agent/src/supervisor/process-host.windows.ts';
import { LimitsError } from '../../agent/src/supervisor/limits.ts';

test('processHost picks the half of the platform', () => {
  assert.equal(processHost(undefined, 'linux').name, 'linux');
  assert.equal(processHost(undefined, 'linux').detached, true);
  assert.equal(processHost(undefined, 'win32').name, 'windows');
  assert.equal(processHost(undefined, 'win32').detached, false);
});

test('Windows plan: memory → ProcessMemoryLimit, cpu percent of one CPU → CpuRate of all CPUs, l3afd seconds → PerProcessUserTimeLimit', () => {
  assert.equal(cpuRateFor(50, 2), 2500);
  assert.equal(cpuRateFor(100, 1), 10000);
  assert.equal(cpuRateFor(400, 2), 10000);
  assert.equal(cpuRateFor(1, 64), 2);
  const h = new WindowsProcessHost();
  const p = h.plan('k', { cpu: 0, memory: 1 << 20 });
  assert.equal(p.method, 'job');
  assert.deepEqual(p.memory, { requested: 1 << 20, enforcedBy: 'JobObject.ProcessMemoryLimit', value: String(1 << 20) });
  assert.equal(p.cpu.enforcedBy, null);
  assert.equal(h.plan('k', { cpu: 0, memory: 0 }).method, 'job', 'every program gets a job (kill-on-close)');
  assert.equal(h.plan('k', { cpu: 10, memory: 0 }).cpu.enforcedBy, 'JobObject.CpuRate');
  assert.deepEqual(new WindowsProcessHost({ cpuMeaning: 'rlimit-seconds' }).plan('k', { cpu: 30, memory: 0 }).cpu, { requested: 30, enforcedBy: 'JobObject.PerProcessUserTimeLimit', value: '30' });
  assert.throws(() => h.plan('k', { cpu: -1, memory: 0 }), LimitsError);
  assert.deepEqual(h.command(p, 'C:\\pkg\\sleeper.exe', ['--a=1']), { command: 'C:\\pkg\\sleeper.exe', args: ['--a=1'] }, 'no shell wrapper');
});
