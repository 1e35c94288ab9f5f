import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileFieldSchema, leafText, parseAddress } from '../../agent/src/metrics/map-layout.ts';

test('addresses: IPv4 and IPv6 parse to network-order bytes and print back compressed', () => {
  assert.deepEqual([...parseAddress('10.0.0.1')!], [10, 0, 0, 1]);
  assert.equal(parseAddress('256.0.0.1'), undefined);
  assert.equal(parseAddress('1::2::3'), undefined);
  const v6 = parseAddress('2001:db8::1')!;
  assert.equal(v6.toString('hex'), '20010db8000000000000000000000001');
  assert.equal(leafText(v6, { path: '', off: 0, size: 16, format: 'ipv6' }), '2001:db8::1');
  assert.equal(leafText(parseAddress('fe80:0:0:1::')!, { path: '', off: 0, size: 16, format: 'ipv6' }), 'fe80:0:0:1::');
  assert.equal(leafText(Buffer.from([0x01, 0xbb]), { path: '', off: 0, size: 2, format: 'port' }), '443');
});

test("PR #661 key schema: C layout (alignment, padding), values encoded, field paths for labels; bad parts named", () => {
  const { layout, bytes } = compileFieldSchema({
    name: 'k', type: 'struct', fields: [
      { name: 'proto', type: 'uint8', value: 6 },
      { name: 'addr', type: 'ipv4', value: '10.1.2.3' },
      { name: 'ids', type: 'array', elem: { type: 'uint16' }, value: [1, 2] },
    ],
  });
  assert.equal(layout.size, 12);
  assert.equal(bytes.toString('hex'), '060000000a01020301000200');
  assert.deepEqual(layout.leaves.map((l) => [l.path, l.off, l.size]), [['proto', 0, 1], ['addr', 4, 4], ['ids[0]', 8, 2], ['ids[1]', 10, 2]]);
  assert.equal(leafText(bytes, layout.leaves[1]!), '10.1.2.3');
  assert.throws(() => compileFieldSchema({ type: 'uint8', value: 300 }), /300 does not fit uint8/);
  assert.throws(() => compileFieldSchema({ type: 'struct', fields: [{ type: 'ipv4', value: 'x' }] }), /key\.fields\[0\]: ipv4 value must be a dotted quad/);
});
