// The memory settler: one full V8 collection and a trim of the C heap a while after the last change
// (debounced), with node started without --expose-gc, as npm start runs it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { MemorySettler } from '../../agent/src/app/memory-settler.ts';
import { trimNativeHeap } from '../../agent/src/bpf/index.ts';

const quiet = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} } as never;

test('settles once per burst, after the last change, with a real full collection', async () => {
  assert.equal(typeof (globalThis as { gc?: unknown }).gc, 'undefined', 'this test runs without --expose-gc');
  const settler = new MemorySettler(quiet, 1_000);
  let garbage: object | undefined = { big: new Array(100_000).fill(7) };
  const ref = new WeakRef(garbage);
  garbage = undefined;
  await sleep(0); // a WeakRef's target stays alive until the end of the job that made it
  settler.soon();
  await sleep(500);
  settler.soon(); // a second change inside the delay moves the settling back
  await sleep(100);
  assert.equal(settler.settled, 0, 'not yet: the delay restarted with the second change');
  for (let i = 0; i < 100 && settler.settled === 0; i++) await sleep(50);
  assert.equal(settler.settled, 1, 'one settling for the burst');
  assert.equal(ref.deref(), undefined, 'the full collection reclaimed an unreachable object');
  assert.equal(typeof settler.last?.beforeMiB, 'number');
  assert.ok(settler.last!.afterMiB > 0);
  assert.ok(settler.last!.ms >= 0);
  settler.close();
});

test('close cancels a pending settling; the C heap trim answers without throwing', async () => {
  const settler = new MemorySettler(quiet, 20);
  settler.soon();
  settler.close();
  await sleep(50);
  assert.equal(settler.settled, 0);
  assert.equal(typeof trimNativeHeap(), 'boolean', 'glibc has malloc_trim; elsewhere it answers false');
});
