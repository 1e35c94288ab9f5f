import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { MonitorMapRequest, isPlainMonitorMap, monitorKeyId, normalizeMonitorMap, stripUnknownKeys } from '../../agent/src/payload/index.ts';

const requireFromFormats = createRequire(import.meta.resolve('ajv-formats'));
type Validate = ((data: unknown) => boolean) & { errors?: Array<{ instancePath: string }> | null };
const AjvClass = (requireFromFormats('ajv') as { default: new (o: object) => { compile(s: unknown): Validate } }).default;
const validate = new AjvClass({ allErrors: true, strict: false }).compile(MonitorMapRequest);

test("monitor_maps shapes: l3afd's, L3AF's open work (PR #556 string keys, PR #661 key schemas and labels) and l3af's", () => {
  const ok = [
    { name: 'rl_drop_count_map', key: 0, aggregator: 'scalar' },
    { name: 'rl_drop_count_map', aggregator: 'scalar' },
    { name: 'm', key: '10.0.0.1', key_type: 'ipv4', aggregator: 'scalar' },
    { name: 'm', key: '*', key_type: 'int', aggregator: 'max-rate' },
    { name: 'm', key: { name: 'k', type: 'struct', fields: [{ name: 'a', type: 'uint32', value: 1 }] }, aggregator: 'scalar', labels: [{ name: 'a', path: 'a' }] },
    { name: 'm', key: [1, 2, '3'], aggregator: 'avg', values: [{ path: 'bytes', aggregator: 'max-rate' }], per_cpu: 'cpu', max_keys: 10 },
    { name: 'm', key: { from: 0, to: 31 }, aggregator: 'histogram' },
  ];
  for (const m of ok) assert.ok(validate(m), `${JSON.stringify(m)}: ${JSON.stringify(validate.errors)}`);
  const bad: Array<[unknown, string]> = [
    [{ name: 'm', key: -1, aggregator: 'scalar' }, '/key'],
    [{ name: 'm', key: 0, aggregator: 'sum' }, '/aggregator'],
    [{ name: 'm', key: 0, aggregator: 'scalar', labels: [{ name: '1x', path: 'a' }] }, '/labels/0/name'],
    [{ name: 'm', key: 0, aggregator: 'scalar', key_type: 'mac' }, '/key_type'],
    [{ name: 'm', key: 0, aggregator: 'scalar', per_cpu: 'max' }, '/per_cpu'],
  ];
  for (const [m, path] of bad) {
    assert.equal(validate(m), false, JSON.stringify(m));
    assert.ok(validate.errors?.some((e) => e.instancePath.startsWith(path)), `${JSON.stringify(m)}: ${JSON.stringify(validate.errors)}`);
  }
  // l3afd entries stay exactly l3afd's; typed ones keep their fields
  assert.deepEqual(normalizeMonitorMap({ name: 'a', aggregator: 'avg' }), { name: 'a', key: 0, aggregator: 'avg' });
  assert.ok(isPlainMonitorMap(normalizeMonitorMap({ name: 'a', key: 3, aggregator: 'avg' })));
  assert.ok(!isPlainMonitorMap(normalizeMonitorMap({ name: 'a', key: '3', aggregator: 'avg' })));
  assert.deepEqual(normalizeMonitorMap({ name: 'a', key: '*', key_type: 'ipv4', aggregator: 'scalar', max_keys: 5 }), { name: 'a', key: '*', key_type: 'ipv4', aggregator: 'scalar', max_keys: 5 });
  // "17" (int) and 17 are the same key for duplicate checks
  assert.equal(monitorKeyId({ name: 'a', key: '17', aggregator: 'scalar' }), monitorKeyId({ name: 'a', key: 17, aggregator: 'scalar' }));
});

test('unknown keys are stripped inside the right key shape: a range keeps from/to, a key schema loses only its unknown keys', () => {
  const range = { name: 'm', key: { from: 1, to: 5 }, aggregator: 'scalar' };
  assert.deepEqual(stripUnknownKeys(MonitorMapRequest, range), []);
  assert.deepEqual(range.key, { from: 1, to: 5 });
  const schema = { name: 'm', key: { type: 'uint32', value: 3, color: 'x' }, aggregator: 'scalar', note: 1 };
  assert.deepEqual(stripUnknownKeys(MonitorMapRequest, schema), ['/key/color', '/note']);
  assert.deepEqual(schema.key, { type: 'uint32', value: 3 });
  assert.ok(validate(schema) && validate(range));
});
