// The pin layout's paths and its refusals, and the keyed mutex's ordering (no kernel needed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PinLayout, versionSegment } from '../../agent/src/chain/pin-layout.ts';
import { ChainError } from '../../agent/src/chain/errors.ts';
import { KeyedMutex } from '../../agent/src/chain/keyed-mutex.ts';

const L = new PinLayout('/sys/fs/bpf');

test("l3afd's layout: maps per hook, programs and links per interface/name/version", () => {
  assert.equal(L.mapPath('eth0', 'xdp_ingress', 'xdp-root', 'latest', 'xdp_root_array'), '/sys/fs/bpf/eth0/xdp-root/latest/xdp_root_array');
  assert.equal(L.mapPath('eth0', 'tc_ingress', 'ratelimiting', '1.0.2', 'rl_map'), '/sys/fs/bpf/tc/globals/eth0/ratelimiting/1_0_2/rl_map');
  assert.equal(L.mapDir('eth0', 'tc_egress', 'a', '2.0'), '/sys/fs/bpf/tc/globals/eth0/a/2_0');
  assert.equal(L.programPath('eth0', 'xdp_ingress', 'ratelimiting', '1.0.2', 'xdp_ratelimiting'), '/sys/fs/bpf/progs/eth0/ratelimiting/1_0_2/xdp_ratelimiting_xdp');
  assert.equal(L.programPath('eth0', 'tc_egress', 'cap', 'latest', 'tc_count_and_pass'), '/sys/fs/bpf/progs/eth0/cap/latest/tc_count_and_pass_tc');
  assert.equal(L.linkPath('eth0', 'xdp_ingress', 'cap', '1.0'), '/sys/fs/bpf/links/eth0/cap/1_0/cap_xdp');
  assert.equal(L.linkPath('eth0', 'tc_egress', 'cap', '1.0'), '/sys/fs/bpf/links/eth0/cap/1_0/cap_tc_egress');
  assert.equal(versionSegment('1.2.3'), '1_2_3');
  assert.equal(new PinLayout('/tmp/x/../y/').root, '/tmp/y');
});

test('every segment is checked and no path leaves the root', () => {
  const bad: Array<[string, () => unknown]> = [
    ['slash in name', () => L.mapDir('eth0', 'xdp_ingress', 'a/b', '1')],
    ['dot-dot name', () => L.mapDir('eth0', 'xdp_ingress', '..', '1')],
    ['empty name', () => L.programDir('eth0', '', '1')],
    ['dot-dot version', () => L.mapDir('eth0', 'xdp_ingress', 'a', '..')],
    ['single-dot version', () => L.mapDir('eth0', 'xdp_ingress', 'a', '.')],
    ['slash in version', () => L.programDir('eth0', 'a', '1/../../x')],
    ['NUL in name', () => L.programDir('eth0', 'a\0b', '1')],
    ['empty interface', () => L.programDir('', 'a', '1')],
    ['interface with slash', () => L.programDir('../etc', 'a', '1')],
    ['interface named like a layout directory', () => L.mapDir('progs', 'xdp_ingress', 'a', '1')],
    ['interface longer than IFNAMSIZ', () => L.programDir('abcdefghijklmnop', 'a', '1')],
    ['entry that is not an identifier', () => L.programPath('eth0', 'xdp_ingress', 'a', '1', 'x/y')],
    ['map with slash', () => L.mapPath('eth0', 'xdp_ingress', 'a', '1', '../m')],
    ['relative root', () => new PinLayout('sys/fs/bpf')],
    ['dot in a name (bpffs refuses it)', () => L.programDir('eth0', 'my.prog', '1')],
    ['dot in an interface (bpffs refuses it)', () => L.programDir('eth0.100', 'a', '1')],
  ];
  for (const [what, fn] of bad) {
    assert.throws(fn, (e: unknown) => e instanceof ChainError && e.code === 'invalid', what);
  }
});

test('the keyed mutex runs tasks of one key in call order and other keys independently', async () => {
  const m = new KeyedMutex();
  const log: string[] = [];
  const slow = (tag: string, ms: number) => async () => {
    log.push(`${tag}+`);
    await new Promise((r) => setTimeout(r, ms));
    log.push(`${tag}-`);
    return tag;
  };
  const failing = () => {
    log.push('f');
    throw new Error('boom');
  };
  const a1 = m.run('a', slow('a1', 30));
  const a2 = m.run('a', failing);
  const a3 = m.run('a', slow('a3', 1));
  const b1 = m.run('b', slow('b1', 1));
  await assert.rejects(a2, /boom/);
  assert.deepEqual(await Promise.all([a1, a3, b1]), ['a1', 'a3', 'b1']);
  assert.deepEqual(log.filter((x) => x.startsWith('a') || x === 'f'), ['a1+', 'a1-', 'f', 'a3+', 'a3-']);
  assert.ok(log.indexOf('b1-') < log.indexOf('a1-'), 'key b did not wait for key a');
  await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(m.busyKeys, []);
});
