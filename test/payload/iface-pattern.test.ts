// Interface name rules per platform: Linux unchanged; Windows friendly names (spaces, parentheses).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IFACE, LINUX_IFACE, WINDOWS_IFACE } from '../../agent/src/payload/patterns.ts';

test('Windows interface names accept friendly names; Linux rules are unchanged and chosen here', () => {
  const win = new RegExp(WINDOWS_IFACE, 'u');
  const linux = new RegExp(LINUX_IFACE, 'u');
  for (const ok of ['Ethernet 4', 'vEthernet (Default Switch)', 'Wi-Fi', 'Local Area Connection* 2'.replace('*', ''), 'eth0']) assert.ok(win.test(ok), ok);
  for (const bad of ['', ' Ethernet', 'Ethernet ', '.', '..', 'a/b', 'a\\b', 'a:b', 'a*b', 'a?b', 'a"b', 'a|b', 'a\u0001b', 'x'.repeat(257)]) assert.ok(!win.test(bad), JSON.stringify(bad));
  assert.ok(linux.test('eth0') && !linux.test('Ethernet 4') && !linux.test('x'.repeat(16)));
  assert.equal(IFACE, process.platform === 'win32' ? WINDOWS_IFACE : LINUX_IFACE);
});
