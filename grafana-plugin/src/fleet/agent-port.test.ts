import { HttpAgentPort, type SendRequest, type SendResponse } from './agent-port';

const body = [{ host_name: 'h', iface: 'veth0', bpf_programs: { xdp_ingress: [] } }];

function fake(answers: Array<(r: SendRequest) => SendResponse>) {
  const seen: Array<{ agent: string } & SendRequest> = [];
  return {
    seen,
    send: async (agent: string, r: SendRequest) => {
      seen.push({ agent, ...r });
      const next = answers.shift();
      if (!next) {
        throw new Error('unexpected request');
      }
      return next(r);
    },
  };
}

describe('HttpAgentPort', () => {
  it('dry run: ?dry_run=true, plan lines, verifier rejection as the error', async () => {
    const f = fake([
      () => ({
        status: 200,
        headers: { etag: '"e1"' },
        data: {
          dry_run: true,
          ok: false,
          etag: '"e1"',
          plan: [
            {
              iface: 'veth0',
              direction: 'xdpingress',
              name: 'ratelimiting',
              action: 'replace',
              verifier: { ok: true },
            },
            {
              iface: 'veth0',
              direction: 'xdpingress',
              name: 'bad',
              action: 'load',
              verifier: { ok: false, error: 'invalid mem access' },
            },
          ],
        },
      }),
    ]);
    const v = await new HttpAgentPort(f.send).dryRun('a', { route: 'update', body });
    expect(f.seen[0]).toMatchObject({
      agent: 'a',
      method: 'POST',
      path: '/l3af/configs/v1/update?dry_run=true',
      data: body,
    });
    expect(v).toEqual({
      ok: false,
      etag: '"e1"',
      plan: ['veth0 xdpingress ratelimiting: replace', 'veth0 xdpingress bad: load (verifier: invalid mem access)'],
      error: 'bad: invalid mem access',
    });
  });

  it('dry run refused (400) carries the field paths', async () => {
    const f = fake([
      () => ({
        status: 400,
        headers: {},
        data: { error: 'invalid request', details: [{ path: '/0/iface', message: 'too long' }] },
      }),
    ]);
    expect(await new HttpAgentPort(f.send).dryRun('a', { route: 'add', body })).toEqual({
      ok: false,
      etag: '',
      error: 'invalid request: /0/iface too long',
    });
  });

  it('apply: If-Match sent; the audit id is the entry from the If-Match ETag to the new one', async () => {
    const f = fake([
      () => ({
        status: 200,
        headers: { etag: '"e2"' },
        data: { results: [{ name: 'ratelimiting', outcome: 'replaced' }] },
      }),
      () => ({
        status: 200,
        headers: {},
        data: {
          entries: [
            { id: '0000000000000009', etag_before: '"x"', etag_after: '"e2"', outcome: 'ok' },
            { id: '0000000000000008', etag_before: '"e1"', etag_after: '"e2"', outcome: 'ok' },
          ],
        },
      }),
    ]);
    const r = await new HttpAgentPort(f.send).apply('a', { route: 'update', body }, '"e1"');
    expect(f.seen[0]).toMatchObject({
      method: 'POST',
      path: '/l3af/configs/v1/update',
      headers: { 'If-Match': '"e1"' },
    });
    expect(f.seen[1]).toMatchObject({ method: 'GET', path: '/l3af/audit?limit=20' });
    expect(r).toEqual({ ok: true, etag: '"e2"', auditId: '0000000000000008' });
  });

  it('apply: 412 is a failure naming the current ETag; 422 a failure with its audit id (revertable)', async () => {
    const f = fake([
      () => ({
        status: 412,
        headers: { etag: '"e9"' },
        data: { error: 'precondition failed: desired state changed', etag: '"e9"' },
      }),
      () => ({
        status: 422,
        headers: { etag: '"e3"' },
        data: { results: [{ name: 'ratelimiting', outcome: 'failed', error: 'load failed' }] },
      }),
      () => ({
        status: 200,
        headers: {},
        data: { entries: [{ id: '7', etag_before: '"e1"', etag_after: '"e3"', outcome: 'partial' }] },
      }),
    ]);
    const port = new HttpAgentPort(f.send);
    expect(await port.apply('a', { route: 'update', body }, '"e1"')).toEqual({
      ok: false,
      etag: '"e9"',
      error: 'precondition failed: desired state changed (now "e9")',
    });
    expect(await port.apply('a', { route: 'update', body }, '"e1"')).toEqual({
      ok: false,
      etag: '"e3"',
      auditId: '7',
      error: 'ratelimiting: load failed',
    });
  });

  it('apply: a 422 whose headers Grafana dropped finds its audit entry (and new ETag) by the If-Match ETag', async () => {
    const f = fake([
      () => ({
        status: 422,
        headers: {},
        data: { results: [{ name: 'ratelimiting', outcome: 'failed', error: 'EPERM' }] },
      }),
      () => ({
        status: 200,
        headers: {},
        data: {
          entries: [
            { id: '12', etag_before: '"e1"', etag_after: '"e5"', outcome: 'partial' },
            { id: '4', etag_before: '"e1"', etag_after: '"e0"', outcome: 'ok' },
          ],
        },
      }),
    ]);
    expect(await new HttpAgentPort(f.send).apply('a', { route: 'update', body }, '"e1"')).toEqual({
      ok: false,
      etag: '"e5"',
      auditId: '12',
      error: 'ratelimiting: EPERM',
    });
  });

  it('revert: POST /l3af/audit/{id}/revert with If-Match; refusals are failures', async () => {
    const f = fake([
      () => ({ status: 200, headers: { etag: '"e4"' }, data: { results: [] } }),
      () => ({ status: 404, headers: {}, data: { error: 'no such audit entry' } }),
    ]);
    const port = new HttpAgentPort(f.send);
    expect(await port.revert('a', '8', '"e2"')).toEqual({ ok: true, etag: '"e4"' });
    expect(f.seen[0]).toMatchObject({
      method: 'POST',
      path: '/l3af/audit/8/revert',
      headers: { 'If-Match': '"e2"' },
      data: {},
    });
    expect(await port.revert('a', '8', undefined)).toEqual({ ok: false, error: 'no such audit entry' });
    expect(f.seen[1].headers).toBeUndefined();
  });
});
