// The config store: round trip in l3afd's shape, atomic replacement (no temp files left, old content until
// the rename), missing file = empty state, and corrupt files as clear errors naming the problem.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, chmodSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigStore, StoreError, parseStore } from '../../agent/src/store/index.ts';
import { normalizeL3afBpfPrograms } from '../../agent/src/payload/index.ts';

const element = normalizeL3afBpfPrograms({
  host_name: 'node-1', iface: 'veth0', ipv4_address: '10.0.0.1',
  bpf_programs: {
    xdp_ingress: [{
      name: 'ratelimiting', seq_id: 1, artifact: 'l3af_ratelimiting.tar.gz', version: 'latest', admin_status: 'enabled',
      prog_type: 'xdp', map_name: 'xdp_rl_ingress_next_prog', object_file: 'ratelimiting.bpf.o', entry_function_name: '_xdp_ratelimiting',
      map_args: [{ name: 'rl_ports_map', args: [{ key: 8080, value: 1 }] }],
    }],
  },
});

function withDir(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), `l3af-store-${process.pid}-`));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

test('a missing file is an empty state; write then read gives the same elements in l3afd\'s shape', withDir(async (dir) => {
  const store = new ConfigStore(join(dir, 'sub', 'l3af-config.json'));
  assert.deepEqual(await store.read(), []);
  await store.write([element]);
  assert.deepEqual(await store.read(), [element]);
  const raw = JSON.parse(readFileSync(store.path, 'utf8')) as unknown[];
  assert.deepEqual(raw, [element], 'the file is the plain l3afd JSON array');
  assert.deepEqual(Object.keys((raw[0] as { bpf_programs: { xdp_ingress: object[] } }).bpf_programs.xdp_ingress[0] as object).length, 31, 'every BPFProgram key');
  await store.write([]);
  assert.deepEqual(await store.read(), []);
  assert.deepEqual(readdirSync(join(dir, 'sub')), ['l3af-config.json'], 'no temporary files left');
}));

test('a failed write leaves the previous content and no temporary file', withDir(async (dir) => {
  if (process.getuid?.() === 0) {
    // root ignores directory permissions: make the rename fail instead by putting a directory in the way
    const store = new ConfigStore(join(dir, 'state.json'));
    await store.write([element]);
    const blocked = new ConfigStore(join(dir, 'blocked'));
    mkdirSync(join(dir, 'blocked'));
    writeFileSync(join(dir, 'blocked', 'x'), 'x');
    await assert.rejects(blocked.write([element]), (e: unknown) => e instanceof StoreError && /cannot be written/.test(e.message));
    assert.deepEqual(readdirSync(dir).sort(), ['blocked', 'state.json']);
    assert.deepEqual(await store.read(), [element]);
    return;
  }
  const store = new ConfigStore(join(dir, 'state.json'));
  await store.write([element]);
  chmodSync(dir, 0o500);
  try {
    await assert.rejects(store.write([]), StoreError);
  } finally {
    chmodSync(dir, 0o700);
  }
  assert.deepEqual(await store.read(), [element]);
}));

test('corrupt files are clear errors, never an empty state', withDir(async (dir) => {
  const path = join(dir, 'bad.json');
  const cases: [string, RegExp][] = [
    ['{"not": "an array"}', /JSON array/],
    ['[{"host_name": "h", "iface": "veth0", "bpf_programs": {"xdp_ingress": [{"name": "x"}]}}]', /\/0\/bpf_programs\/xdp_ingress\/0.*(required|artifact)/],
    ['[ {"host_name": "h", ', /not valid JSON/],
    ['', /is empty/],
    ['[{"host_name": "h", "iface": "veth0", "bpf_programs": {"xdp_ingress": [{"name": "a", "seq_id": 1, "artifact": "a.tar.gz", "version": "1", "admin_status": "enabled"}, {"name": "b", "seq_id": 1, "artifact": "b.tar.gz", "version": "1", "admin_status": "enabled"}]}}]', /duplicate seq_id 1/],
  ];
  for (const [text, re] of cases) {
    writeFileSync(path, text);
    await assert.rejects(new ConfigStore(path).read(), (e: unknown) => {
      assert.ok(e instanceof StoreError, `StoreError for ${JSON.stringify(text.slice(0, 30))}`);
      assert.match(e.message, re);
      assert.ok(e.message.includes(path), 'the message names the file');
      return true;
    });
  }
  assert.throws(() => parseStore('[1]'), /\/0/);
}));
