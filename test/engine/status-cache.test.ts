import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { NormalizedL3afBpfPrograms } from '../../agent/src/payload/index.ts';
import { StatusCache } from '../../agent/src/engine/status-cache.ts';

const attachedOf = (els: NormalizedL3afBpfPrograms[]): boolean => (els[0]!.bpf_programs.xdp_ingress![0] as unknown as { status: { attached: boolean } }).status.attached;

function element(iface: string, attached: boolean): NormalizedL3afBpfPrograms {
  return {
    host_name: 'h', iface, ipv4_address: '',
    bpf_programs: { xdp_ingress: [{ name: 'p', status: { attached } } as never], tc_ingress: null, tc_egress: null, probes: null },
  } as NormalizedL3afBpfPrograms;
}

test('reads serve the last snapshot without computing; refresh recomputes', () => {
  let kernel = true;
  let calls = 0;
  const c = new StatusCache({ compute: () => (calls++, [element('a', kernel), element('b', kernel)]), refreshMs: 0 });
  assert.equal(attachedOf(c.withStatus()), true);
  for (let i = 0; i < 100; i++) c.withStatus('a');
  assert.equal(calls, 1, 'one computation for 101 reads');
  kernel = false;
  assert.equal(attachedOf(c.withStatus('a')), true, 'stale until refreshed');
  c.refresh();
  assert.equal(calls, 2);
  assert.equal(attachedOf(c.withStatus('a')), false);
  assert.deepEqual(c.withStatus('b').map((e) => e.iface), ['b']);
  assert.deepEqual(c.withStatus('zz'), []);
});

test('desired() is the same snapshot without status; both are frozen', () => {
  const c = new StatusCache({ compute: () => [element('a', true)], refreshMs: 0 });
  const d = c.desired();
  assert.equal('status' in (d[0]!.bpf_programs.xdp_ingress![0] as object), false);
  assert.equal((d[0]!.bpf_programs.xdp_ingress![0] as { name: string }).name, 'p');
  assert.equal(d[0]!.bpf_programs.tc_ingress, null);
  assert.ok(Object.isFrozen(c.withStatus()[0]!.bpf_programs.xdp_ingress![0]));
  assert.throws(() => { (c.withStatus()[0] as { iface: string }).iface = 'x'; }, TypeError);
});

test('a failed computation keeps the previous snapshot and is reported', () => {
  let fail = false;
  const errors: unknown[] = [];
  const c = new StatusCache({ compute: () => { if (fail) throw new Error('boom'); return [element('a', true)]; }, refreshMs: 0, onError: (e) => errors.push(e) });
  c.refresh();
  fail = true;
  c.refresh();
  assert.equal(c.withStatus().length, 1);
  assert.equal(errors.length, 1);
});

test('the periodic refresh runs on its interval and stops on close', async () => {
  let calls = 0;
  const c = new StatusCache({ compute: () => (calls++, []), refreshMs: 20 });
  c.start();
  await new Promise((r) => setTimeout(r, 110));
  c.close();
  const n = calls;
  assert.ok(n >= 3, `refreshed ${n} times in 110 ms`);
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(calls, n);
});
