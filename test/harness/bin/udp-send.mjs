// Bounded UDP sender, run inside a lab's namespace: node udp-send.mjs '<json params>'.
// params: { host, port, count, size, ratePps|null, maxMs, srcPort|null }.
// Sends at most `count` datagrams for at most `maxMs`, keeping a bounded number in flight, and prints one JSON
// line: { sent, failed, elapsedMs, firstError }. `sent` counts sends the kernel accepted (callback without error).
import dgram from 'node:dgram';
import { Buffer } from 'node:buffer';
import process from 'node:process';
import { setTimeout, clearTimeout } from 'node:timers';
import { performance } from 'node:perf_hooks';

const WINDOW = 256;
const p = JSON.parse(process.argv[2] ?? '{}');
const payload = Buffer.alloc(p.size, 0x61);
const sock = dgram.createSocket('udp4');
sock.on('error', (err) => fail(err));

function fail(err) {
  process.stderr.write(`udp-send: ${err?.stack ?? err}\n`);
  process.exit(2);
}

await new Promise((resolve) => sock.bind(p.srcPort ?? 0, resolve));

let started = 0;
let done = 0;
let sent = 0;
let failed = 0;
let firstError = null;
let finished = false;
let timer = null;
const t0 = performance.now();
const deadline = t0 + p.maxMs;

function finish() {
  if (finished) return;
  finished = true;
  if (timer !== null) clearTimeout(timer);
  const elapsedMs = performance.now() - t0;
  sock.close();
  process.stdout.write(`${JSON.stringify({ sent, failed, elapsedMs, firstError })}\n`);
}

function onSent(err) {
  done++;
  if (err) {
    failed++;
    firstError ??= err.code ?? String(err);
  } else {
    sent++;
  }
  pump();
}

function pump() {
  if (finished) return;
  while (started < p.count && started - done < WINDOW) {
    const now = performance.now();
    if (now >= deadline) break;
    if (p.ratePps !== null) {
      const allowed = Math.floor(((now - t0) * p.ratePps) / 1000) + 1;
      if (started >= allowed) {
        if (timer === null) {
          const wait = Math.max(1, Math.ceil(((started * 1000) / p.ratePps) - (now - t0)));
          timer = setTimeout(() => {
            timer = null;
            pump();
          }, Math.min(wait, deadline - now + 1));
        }
        return;
      }
    }
    started++;
    sock.send(payload, p.port, p.host, onSent);
  }
  if (started === done && (started >= p.count || performance.now() >= deadline)) finish();
}

// The deadline also ends a sender that is waiting on the rate timer or on callbacks.
setTimeout(() => {
  if (started === done) finish();
}, p.maxMs + 1).unref();
pump();
