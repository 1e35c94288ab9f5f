// l3afd's chain debug API ([ebpf-chain-debug] enabled / addr, issue 13 point 8): GET /bpfs/<iface> answers l3afd's
// runtime objects, root first, in chain order; ProgID, Program.name and Program.map_name as l3afd's e2e suite reads
// them, the ids checked with bpftool. The agent starts the listener when the config enables it (it used to start nothing).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { queryXdp } from '../../agent/src/bpf/index.ts';
import { ChainManager } from '../../agent/src/chain/index.ts';
import { createEngine } from '../../agent/src/engine/index.ts';
import { bpfDetails, startDebugServer, type DebugBpf } from '../../agent/src/api/debug-server.ts';
import { hostName } from '../../agent/src/platform/host.ts';
import { PrivateBpffs, skipUnless, EngineLab } from '../harness/index.ts';
import { StateDir, countAndPass, countAndPassRepo, xdpBody } from '../engine/helpers.ts';
import { agentConfig, listening, spawnAgent } from '../harness/agent-process.ts';
import { freePort } from '../harness/net.ts';

const skip = await skipUnless('root', 'netns', 'veth', 'bpffs');

function bpftoolName(id: number): string {
  return (JSON.parse(execFileSync('bpftool', ['prog', 'show', 'id', String(id), '--json'], { encoding: 'utf8' })) as { name: string }).name;
}

test('GET /bpfs/<iface>: root then programs in chain order, ProgID / Program.name / Program.map_name as l3afd, ids real', { skip, timeout: 120_000 }, async () => {
  await using bed = await EngineLab.create();
  const { fs, state, iface, config } = bed;
  const repo = countAndPassRepo(state.path, ['cap-a', 'cap-b']);
  config.ebpfChainDebug = { enabled: true, addr: `127.0.0.1:${await freePort()}` };
  const engine = createEngine(config, { chainManager: (roots) => new ChainManager({ pinRoot: fs.path, roots }) });
  await engine.start();
  const server = await startDebugServer(engine, config);
  try {
    const r = await engine.add(xdpBody(hostName(), iface, [
      countAndPass('cap-b', 2, { ebpf_package_repo_url: repo, monitor_maps: [{ name: 'xdp_cap_count', key: 0, aggregator: 'scalar' }] }),
      countAndPass('cap-a', 1, { ebpf_package_repo_url: repo }),
    ]));
    assert.deepEqual(r.results.map((x) => x.outcome), ['added', 'added']);
    const res = await fetch(`http://${config.ebpfChainDebug.addr}/bpfs/${iface}`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    const doc = await res.json() as DebugBpf[];
    assert.deepEqual(doc.map((b) => [b.Program.name, b.Program.map_name]), [['xdp-root', 'xdp_root_array'], ['cap-a', 'xdp_cap_next_prog'], ['cap-b', 'xdp_cap_next_prog']]);
    assert.equal(doc[0]?.ProgID, queryXdp(iface).progId, 'the root is what the hook runs');
    for (const b of doc) assert.equal(bpftoolName(b.ProgID), b.Program.entry_function_name, `bpftool knows ${b.Program.name}'s id`);
    assert.equal(doc[1]?.PrevMapNamePath, doc[0]?.MapNamePath, 'each program follows its predecessor\'s map');
    assert.equal(doc[2]?.PrevProgMapID, doc[1]?.ProgMapID);
    assert.ok((doc[1]?.ProgMapID ?? 0) > 0);
    assert.equal(doc[2]?.MetricsBpfMaps?.['xdp_cap_count0scalar']?.Aggregator, 'scalar');
    assert.equal(doc[0]?.HostConfig, null, 'the configuration is not dumped');
    assert.deepEqual(Object.keys(doc[1] ?? {}), ['Program', 'FilePath', 'RestartCount', 'PrevMapNamePath', 'MapNamePath', 'ProgID', 'BpfMaps', 'MetricsBpfMaps', '_', 'ProgMapID', 'PrevProgMapID', 'HostConfig', 'ProbeLinks']);
    assert.deepEqual(bpfDetails(engine, config, 'nx-none'), [], 'an interface without chains: []');
  } finally {
    await server.close();
    await engine.stop({ unload: true });
  }
});

test('the agent starts the debug listener when [ebpf-chain-debug] enabled is true', { skip, timeout: 120_000 }, async () => {
  await using bpffs = await PrivateBpffs.create();
  using state = new StateDir();
  const debugPort = await freePort();
  const agent = spawnAgent(agentConfig({
    stateDir: state.path, pinRoot: bpffs.path, port: await freePort(), extra: ['ebpf-chain-debug:', '  enabled: true', `  addr: 127.0.0.1:${debugPort}`],
  }));
  try {
    await listening(agent);
    const res = await fetch(`http://127.0.0.1:${debugPort}/bpfs/nothing0`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), []);
    agent.child.kill('SIGTERM');
    await agent.exited;
  } finally {
    await agent.kill();
  }
});
