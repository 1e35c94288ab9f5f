import { AgentClient } from './client';
import { AgentError } from './agent-error';
import { fakeBackend } from '../test/backend';

const lab = { name: 'lab', url: 'http://10.0.0.5:53000', slot: 3 };

describe('AgentClient', () => {
  it('reaches an agent through its proxy route slot', async () => {
    const { calls } = fakeBackend(() => ({ status: 200, data: [] }));
    await expect(new AgentClient(lab).configs()).resolves.toEqual([]);
    expect(calls).toEqual([
      { url: 'api/plugin-proxy/l3af-chains-app/agent3/l3af/configs/v1?status=true', method: 'GET', data: undefined },
    ]);
  });

  it('reaches an mTLS agent through its data source proxy', async () => {
    const { calls } = fakeBackend(() => ({ status: 200, data: { iface: 'eth0', chains: [] } }));
    await new AgentClient({ ...lab, datasourceUid: 'agent-ds' }).chains('eth0');
    expect(calls[0]?.url).toBe('api/datasources/proxy/uid/agent-ds/l3af/chains/eth0');
  });

  it('posts add/update/delete bodies and returns per-program results', async () => {
    const { calls } = fakeBackend(() => ({
      status: 200,
      data: { results: [{ iface: 'eth0', direction: 'xdp_ingress', name: 'ratelimiting', outcome: 'added' }] },
    }));
    const body = [{ host_name: 'h', iface: 'eth0', bpf_programs: { xdp_ingress: [] } }];
    const applied = await new AgentClient(lab).add(body);
    expect(applied).toEqual({
      ok: true,
      status: 200,
      results: [{ iface: 'eth0', direction: 'xdp_ingress', name: 'ratelimiting', outcome: 'added' }],
    });
    expect(calls[0]).toEqual({
      url: 'api/plugin-proxy/l3af-chains-app/agent3/l3af/configs/v1/add',
      method: 'POST',
      data: body,
      headers: { 'Content-Type': 'application/json' },
    });
  });

  it('treats 422 as a processed request whose failed programs carry their reason', async () => {
    const results = [
      { iface: 'eth0', direction: 'xdp_ingress', name: 'ratelimiting', outcome: 'failed', reason: 'verifier said no' },
    ];
    fakeBackend(() => ({ status: 422, data: { results } }));
    await expect(new AgentClient(lab).update([])).resolves.toEqual({ ok: false, status: 422, results });
  });

  it('turns a 400 into a rejected error with the field paths', async () => {
    fakeBackend(() => ({
      status: 400,
      data: { error: 'invalid request', problems: [{ path: '/0/iface', message: 'is loopback' }] },
    }));
    const err = await new AgentClient(lab).add([]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentError);
    expect(err).toMatchObject({
      kind: 'rejected',
      status: 400,
      problems: [{ path: '/0/iface', message: 'is loopback' }],
    });
    expect((err as Error).message).toContain('/0/iface: is loopback');
  });

  it('says an agent is down when Grafana’s proxy answers 502', async () => {
    fakeBackend(() => ({ status: 502, data: 'Bad Gateway' }));
    await expect(new AgentClient(lab).configs()).rejects.toMatchObject({
      kind: 'unreachable',
      message: expect.stringContaining('"lab" is not reachable'),
    });
  });

  it('tells an mTLS refusal from the agent apart from a Grafana role refusal', async () => {
    fakeBackend(() => ({
      status: 403,
      data: { error: 'forbidden', problems: [{ path: '', message: 'client certificate has role reader' }] },
    }));
    await expect(new AgentClient(lab).delete([])).rejects.toMatchObject({
      kind: 'forbidden',
      message: expect.stringContaining('mTLS roles'),
    });
    fakeBackend(() => ({ status: 403, data: { message: 'Forbidden' } }));
    await expect(new AgentClient(lab).delete([])).rejects.toMatchObject({
      kind: 'forbidden',
      message: expect.stringContaining('Editor role'),
    });
  });

  it('503 from the agent is "not ready", 503 without an agent body is "not reachable"', async () => {
    fakeBackend(() => ({
      status: 503,
      data: { error: 'not ready', problems: [{ path: '', message: 'engine not started' }] },
    }));
    await expect(new AgentClient(lab).configs()).rejects.toMatchObject({ kind: 'not-ready' });
    fakeBackend(() => ({ status: 503, data: 'Service Unavailable' }));
    await expect(new AgentClient(lab).configs()).rejects.toMatchObject({ kind: 'unreachable' });
  });

  it('packages(): undefined when the agent has no listing, the list when it has one', async () => {
    fakeBackend(() => undefined);
    await expect(new AgentClient(lab).packages()).resolves.toBeUndefined();
    const pkgs = [{ name: 'ratelimiting', version: '1.0.0', artifact: 'l3af_ratelimiting.tar.gz' }];
    fakeBackend(() => ({ status: 200, data: { packages: pkgs } }));
    await expect(new AgentClient(lab).packages()).resolves.toEqual(pkgs);
  });

  it('eventsUrl() is an absolute path on Grafana with the filters', () => {
    expect(new AgentClient(lab).eventsUrl({ iface: 'eth0', program: 'ratelimiting' })).toBe(
      '/api/plugin-proxy/l3af-chains-app/agent3/l3af/events?iface=eth0&program=ratelimiting'
    );
  });
});
