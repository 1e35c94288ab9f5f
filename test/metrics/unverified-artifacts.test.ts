// l3af_artifact_unverified_total: packages accepted without a .sha256 (as l3afd) are counted per scheme.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { countUnverified, unverifiedCounts } from '../../agent/src/artifacts/unverified.ts';
import { registerUnverifiedArtifacts } from '../../agent/src/app/observability.ts';

test('l3af_artifact_unverified_total counts packages used without a checksum, per scheme', async () => {
  const registry = new Registry();
  registerUnverifiedArtifacts(registry, 'h1');
  const before = unverifiedCounts().get('https') ?? 0;
  countUnverified('https');
  countUnverified('https');
  const text = await registry.metrics();
  assert.match(text, /# TYPE l3af_artifact_unverified_total counter/);
  assert.ok(text.includes(`l3af_artifact_unverified_total{host="h1",scheme="https"} ${before + 2}`), text);
});
