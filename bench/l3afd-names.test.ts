// The l3afd-names benchmark, small: its checks hold and the report shows both variants.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requireRoot } from '../test/harness/index.ts';
import { namesMarkdown, runNames } from './l3afd-names.ts';

test('a small run renders both registries, l3afd names present only in the second, and reports them', async (t) => {
  if (requireRoot(t)) return;
  const r = await runNames(3, 5);
  assert.deepEqual(r.checks.filter((c) => !c.ok), []);
  assert.equal(r.rows.length, 2);
  assert.ok((r.rows[1]?.series ?? 0) > (r.rows[0]?.series ?? 0));
  const md = namesMarkdown(r, 'test');
  assert.match(md, /\| l3af \+ l3afd names \| \d+ \|/);
  assert.doesNotMatch(md, /CHECKS FAILED/);
});
