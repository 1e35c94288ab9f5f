// Host facts against the real machine: loopback, a fresh address-less veth (invisible to
// os.networkInterfaces), its IPv4 once assigned (also while down), and invalid names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { hostname, networkInterfaces } from 'node:os';
import { hostName, interfaceExists, interfaceInfo, interfaceIpv4, isUsableInterface, isValidInterfaceName, listInterfaces } from '../../agent/src/platform/host.ts';

const isRoot = process.getuid?.() === 0;

test('host name is os.hostname()', () => {
  assert.equal(hostName(), hostname());
  assert.ok(hostName().length > 0);
});

test('loopback exists but is not usable', () => {
  const lo = interfaceInfo('lo');
  assert.ok(lo);
  assert.equal(lo.loopback, true);
  assert.equal(lo.ifindex, 1);
  assert.equal(interfaceExists('lo'), true);
  assert.equal(isUsableInterface('lo'), false);
  assert.equal(interfaceIpv4('lo'), '127.0.0.1');
  assert.ok(listInterfaces().includes('lo'));
});

test('missing and invalid names are simply absent (no path traversal into /sys)', () => {
  for (const name of [`nx${process.pid}`, '', '.', '..', '../lo', 'lo/..', 'a b', 'way-too-long-iface', 'eth0:1']) {
    assert.equal(interfaceExists(name), false, name);
    assert.equal(isUsableInterface(name), false, name);
    assert.equal(interfaceIpv4(name), undefined, name);
  }
  assert.equal(isValidInterfaceName('veth0'), true);
  assert.equal(isValidInterfaceName('eth0.100'), true);
});

test('an address-less veth exists and is usable; its IPv4 appears once assigned', { skip: isRoot ? false : 'needs root to create a veth pair' }, () => {
  const a = `l3h${process.pid % 100000}a`;
  const b = `l3h${process.pid % 100000}b`;
  execFileSync('ip', ['link', 'add', a, 'type', 'veth', 'peer', 'name', b]);
  try {
    assert.equal(networkInterfaces()[a], undefined, 'node does not list it (no address)');
    assert.equal(interfaceExists(a), true);
    assert.equal(isUsableInterface(a), true);
    const info = interfaceInfo(a);
    assert.equal(info?.loopback, false);
    assert.equal(info?.up, false);
    assert.ok((info?.ifindex ?? 0) > 1);
    assert.ok(listInterfaces().includes(a));
    assert.equal(interfaceIpv4(a), undefined);
    execFileSync('ip', ['addr', 'add', '10.213.7.1/30', 'dev', a]);
    assert.equal(networkInterfaces()[a], undefined, 'node still does not list it (down)');
    assert.equal(interfaceIpv4(a), '10.213.7.1', 'found while the interface is down');
    execFileSync('ip', ['link', 'set', a, 'up']);
    execFileSync('ip', ['link', 'set', b, 'up']);
    assert.equal(interfaceIpv4(a), '10.213.7.1');
    assert.equal(interfaceInfo(a)?.up, true);
  } finally {
    execFileSync('ip', ['link', 'del', a]);
  }
  assert.equal(interfaceExists(a), false);
  assert.equal(interfaceExists(b), false, 'the peer went with it');
});
