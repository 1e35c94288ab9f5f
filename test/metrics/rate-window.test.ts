// The max-rate / avg window against known sequences (times in ns, real elapsed time).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RateWindow } from '../../agent/src/metrics/rate-window.ts';

const S = 1_000_000_000n;

test('first sample only primes: no rate, no spike from a large counter', () => {
  const w = new RateWindow(3);
  w.push(0n, 1_000_000n);
  assert.equal(w.maxRate(), undefined);
  assert.equal(w.avgRate(), undefined);
  w.push(S, 1_000_010n);
  assert.equal(w.maxRate(), 10);
  assert.equal(w.avgRate(), 10);
});

test('rates are divided by the real elapsed time; avg is time-weighted', () => {
  const w = new RateWindow(10);
  w.push(0n, 0n);
  w.push(S / 2n, 100n); // 200/s over 0.5 s
  w.push(S / 2n + 2n * S, 300n); // 100/s over 2 s (a late tick)
  assert.equal(w.maxRate(), 200);
  assert.equal(w.avgRate(), 300 / 2.5);
});

test("maxIncrease is l3afd's max-rate: the largest integer increase of one interval, not divided by time", () => {
  const w = new RateWindow(3);
  w.push(0n, 7n);
  assert.equal(w.maxIncrease(), undefined);
  w.push(S / 2n, 107n); // +100 in 0.5 s: maxRate 200/s, maxIncrease 100
  w.push(S / 2n + S, 157n); // +50
  assert.equal(w.maxRate(), 200);
  assert.equal(w.maxIncrease(), 100);
  assert.ok(Number.isInteger(w.maxIncrease()));
});

test('the window keeps the last n intervals', () => {
  const w = new RateWindow(2);
  w.push(0n, 0n);
  w.push(S, 50n); // 50/s
  w.push(2n * S, 60n); // 10/s
  w.push(3n * S, 80n); // 20/s: the 50/s interval leaves the window
  assert.equal(w.intervals, 2);
  assert.equal(w.maxRate(), 20);
  assert.equal(w.avgRate(), 15);
});

test('a decrease is a reset: that interval is skipped and the sample primes again', () => {
  const w = new RateWindow(5);
  w.push(0n, 1000n);
  w.push(S, 1100n);
  w.push(2n * S, 5n);
  assert.equal(w.resets, 1);
  assert.equal(w.intervals, 1);
  w.push(3n * S, 25n);
  assert.equal(w.maxRate(), 100);
  assert.equal(w.avgRate(), 60);
});

test('samples at the same or an earlier time are ignored; bad sizes are refused', () => {
  const w = new RateWindow(3);
  w.push(S, 10n);
  w.push(S, 20n);
  assert.equal(w.intervals, 0);
  assert.throws(() => new RateWindow(0), /positive integer/);
  assert.throws(() => new RateWindow(1.5), /positive integer/);
});
