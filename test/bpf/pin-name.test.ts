// Pin names per platform data: eBPF-for-Windows' `BPF:\…` names (docs/PinPaths.md) with the win32
// platform table, Linux bpffs paths unchanged; the chain's pin layout in both styles.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalPinName, isPinNameRoot, joinPinName, pinStyleOf } from '../../agent/src/bpf/pin-name.ts';
import { windowsPlatform } from '../../agent/src/bpf/platform.windows.ts';
import { linuxPlatform } from '../../agent/src/bpf/platform.linux.ts';
import { PinLayout } from '../../agent/src/chain/pin-layout.ts';

test('pin style comes from the platform data: names on Windows, files on Linux', () => {
  assert.equal(pinStyleOf(windowsPlatform), 'names');
  assert.equal(pinStyleOf(linuxPlatform), 'files');
  assert.equal(windowsPlatform.defaultPinRoot, 'BPF:');
});

test('canonical eBPF-for-Windows pin names: BPF:\\a\\b; /sys/fs/bpf and either separator accepted', () => {
  assert.equal(canonicalPinName('BPF:'), 'BPF:\\');
  assert.equal(canonicalPinName('BPF:\\my\\pin\\path'), 'BPF:\\my\\pin\\path');
  assert.equal(canonicalPinName('BPF:/my/pin//path/'), 'BPF:\\my\\pin\\path');
  assert.equal(canonicalPinName('/sys/fs/bpf/my/pin/path'), 'BPF:\\my\\pin\\path');
  assert.equal(canonicalPinName('/sys/fs/bpf'), 'BPF:\\');
  assert.throws(() => canonicalPinName('C:\\leaf'), /must start with 'BPF:' or '\/sys\/fs\/bpf'/);
  assert.throws(() => canonicalPinName('BPF:\\a\\..\\b'), /must not contain '\.\.'/);
  assert.equal(isPinNameRoot('/sys/fs/bpfx'), false);
  assert.equal(isPinNameRoot('BPFX:'), false);
});

test('joining: Windows names with backslashes, Linux paths with slashes; separators inside a segment refused', () => {
  assert.equal(joinPinName('names', windowsPlatform.defaultPinRoot, 'Ethernet 4', 'ratelimiting', 'latest', 'rl_config_map'), 'BPF:\\Ethernet 4\\ratelimiting\\latest\\rl_config_map');
  assert.equal(joinPinName('names', 'C:\\leaf\\sys\\fs\\bpf\\', 'x'), 'C:\\leaf\\sys\\fs\\bpf\\x', 'other roots are opaque strings, kept');
  assert.equal(joinPinName('files', linuxPlatform.defaultPinRoot, 'eth0', 'ratelimiting'), '/sys/fs/bpf/eth0/ratelimiting');
  assert.throws(() => joinPinName('names', 'BPF:', 'a\\b'), /without '\/', '\\'/);
  assert.throws(() => joinPinName('names', 'BPF:', '..'), /not '\.' or '\.\.'/);
  assert.equal(joinPinName('files', '/sys/fs/bpf', 'a\\b'), '/sys/fs/bpf/a\\b', 'a backslash is an ordinary byte on Linux');
});

test('PinLayout in Windows style: l3afd\'s layout as BPF:\\ names, friendly interface names with spaces and parentheses', () => {
  const w = new PinLayout('BPF:', 'names');
  assert.equal(w.root, 'BPF:\\');
  assert.equal(w.mapPath('Ethernet 4', 'xdp_ingress', 'ratelimiting', '1.0.1', 'rl_config_map'), 'BPF:\\Ethernet 4\\ratelimiting\\1_0_1\\rl_config_map');
  assert.equal(w.programPath('vEthernet (Default Switch)', 'xdp_ingress', 'ratelimiting', 'latest', '_xdp_ratelimiting'),
    'BPF:\\progs\\vEthernet (Default Switch)\\ratelimiting\\latest\\_xdp_ratelimiting_xdp');
  assert.equal(w.linkPath('Wi-Fi', 'xdp_ingress', 'xdp-root', 'latest'), 'BPF:\\links\\Wi-Fi\\xdp-root\\latest\\xdp-root_xdp');
  assert.equal(new PinLayout('/sys/fs/bpf', 'names').mapDir('Ethernet 4', 'xdp_ingress', 'a', 'latest'), 'BPF:\\Ethernet 4\\a\\latest');
  assert.throws(() => w.mapDir('a\\b', 'xdp_ingress', 'x', 'latest'), /interface name 'a\\b' must be 1-256 characters/);
  assert.throws(() => w.mapDir('progs', 'xdp_ingress', 'x', 'latest'), /collides with the pin layout/);
  // Linux rules unchanged: the same friendly name is refused on bpffs
  const l = new PinLayout('/sys/fs/bpf', 'files');
  assert.throws(() => l.mapDir('vEthernet (Default Switch)', 'xdp_ingress', 'x', 'latest'), /longer than 15 bytes/);
  assert.equal(l.mapPath('eth0', 'xdp_ingress', 'ratelimiting', '1.0.1', 'rl_config_map'), '/sys/fs/bpf/eth0/ratelimiting/1_0_1/rl_config_map');
});
