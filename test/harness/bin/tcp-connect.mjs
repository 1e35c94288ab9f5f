// Bounded TCP connection attempts, run inside a lab's namespace: node tcp-connect.mjs '<json params>'.
// params: { host, port, attempts, ratePerSec, timeoutMs, reset }.
// Attempt i starts at t0 + i * 1000 / ratePerSec. A connection that completes is closed at once (FIN, or RST when
// `reset`). Prints one JSON line: { attempted, connected, refused, timedOut, failed, firstError, perSecond,
// attemptedPerSecond, elapsedMs, connectMs } where perSecond[k] counts connections that completed during second k
// after t0 (t0 = start of the first attempt) and connectMs is each successful connect's latency.
import net from 'node:net';
import process from 'node:process';
import { setTimeout, clearTimeout } from 'node:timers';
import { performance } from 'node:perf_hooks';

const p = JSON.parse(process.argv[2] ?? '{}');
const res = {
  attempted: 0, connected: 0, refused: 0, timedOut: 0, failed: 0, firstError: null,
  perSecond: [], attemptedPerSecond: [], elapsedMs: 0, connectMs: [],
};
let settled = 0;
let t0 = 0;
let lastEvent = 0;

function bump(arr, at) {
  const k = Math.floor((at - t0) / 1000);
  while (arr.length <= k) arr.push(0);
  arr[k]++;
}

function finishIfDone() {
  if (settled < p.attempts) return;
  res.elapsedMs = lastEvent - t0;
  const seconds = Math.floor(res.elapsedMs / 1000) + 1;
  for (const arr of [res.perSecond, res.attemptedPerSecond]) while (arr.length < seconds) arr.push(0);
  process.stdout.write(`${JSON.stringify(res)}\n`);
}

function attempt() {
  const startedAt = performance.now();
  res.attempted++;
  bump(res.attemptedPerSecond, startedAt);
  let done = false;
  const sock = net.connect({ host: p.host, port: p.port });
  const settle = (kind, err) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    const at = performance.now();
    lastEvent = Math.max(lastEvent, at);
    if (kind === 'connected') {
      res.connected++;
      bump(res.perSecond, at);
      res.connectMs.push(Math.round((at - startedAt) * 1000) / 1000);
      if (p.reset) sock.resetAndDestroy();
      else sock.destroy();
    } else {
      sock.destroy();
      if (kind === 'timeout') res.timedOut++;
      else if (err?.code === 'ECONNREFUSED') res.refused++;
      else {
        res.failed++;
        res.firstError ??= err?.code ?? String(err);
      }
    }
    settled++;
    finishIfDone();
  };
  const timer = setTimeout(() => settle('timeout'), p.timeoutMs);
  sock.once('connect', () => settle('connected'));
  sock.on('error', (err) => settle('error', err));
}

t0 = performance.now();
lastEvent = t0;
let next = 0;
function schedule() {
  const now = performance.now();
  const due = Math.min(p.attempts, Math.floor(((now - t0) * p.ratePerSec) / 1000) + 1);
  while (next < due) {
    next++;
    attempt();
  }
  if (next < p.attempts) {
    const wait = t0 + (next * 1000) / p.ratePerSec - performance.now();
    setTimeout(schedule, Math.max(0, wait));
  }
}
if (p.attempts === 0) finishIfDone();
else schedule();
