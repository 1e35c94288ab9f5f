import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Gauge, Registry } from 'prom-client';
import { ExpositionCache } from '../../agent/src/metrics/exposition-cache.ts';

test('scrapes between ticks are served the same bytes without rendering; a tick renders once', async () => {
  const registry = new Registry();
  const g = new Gauge({ name: 'x', help: 'x', registers: [registry] });
  g.set(1);
  const c = new ExpositionCache(registry, { maxAgeMs: 60_000 });
  const a = await c.body();
  assert.match(a.toString(), /^x 1$/m);
  for (let i = 0; i < 50; i++) assert.equal(await c.body(), a);
  assert.equal(c.renders, 1);
  g.set(2);
  assert.match((await c.body()).toString(), /^x 1$/m, 'until the tick, the last rendering');
  c.tick(); // someone scraped recently: rendered now, before the next scrape
  await new Promise((r) => setImmediate(r));
  assert.equal(c.renders, 2);
  const b = await c.body();
  assert.match(b.toString(), /^x 2$/m);
  assert.equal(c.renders, 2, 'the scrape after the tick did not render again');
  g.set(3);
  c.invalidate();
  assert.match((await c.body()).toString(), /^x 3$/m, 'an invalidation renders on the next scrape');
});

test('a body older than maxAgeMs is rendered again; no eager rendering while nobody scrapes', async () => {
  const registry = new Registry();
  const g = new Gauge({ name: 'y', help: 'y', registers: [registry] });
  const c = new ExpositionCache(registry, { maxAgeMs: 20, idleMs: 10 });
  c.tick();
  assert.equal(c.renders, 0, 'nobody scraped yet: nothing rendered');
  g.set(5);
  assert.match((await c.body()).toString(), /^y 5$/m);
  g.set(6);
  await new Promise((r) => setTimeout(r, 30));
  assert.match((await c.body()).toString(), /^y 6$/m);
  assert.equal(c.renders, 2);
});
