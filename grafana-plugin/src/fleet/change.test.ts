import { getProgram } from '../test/backend';
import type { Send, SendRequest } from './agent-port';
import { parseRatePorts, payloadRequests, ratePortsBody, ratePortsRequests, withHostName } from './change';
import type { GetInterface } from '../api/types';

const rl = (rate: number, ports: number[]) =>
  getProgram('ratelimiting', 2, {
    map_args: [
      { name: 'rl_config_map', args: [{ key: 0, value: rate }] },
      { name: 'rl_ports_map', args: ports.map((key) => ({ key, value: 1 })) },
    ],
    status: { attached: true },
  });

function docs(rate = 5, ports = [8080]): GetInterface[] {
  return [
    {
      host_name: 'edge-a',
      iface: 'veth0',
      ipv4_address: '10.0.0.1',
      bpf_programs: {
        xdp_ingress: [rl(rate, ports), getProgram('count-and-pass', 1)],
        tc_ingress: null,
        tc_egress: [],
        probes: null,
      },
    },
    {
      host_name: 'edge-a',
      iface: 'veth1',
      ipv4_address: '',
      bpf_programs: { xdp_ingress: [getProgram('count-and-pass', 1)], tc_ingress: null, tc_egress: null, probes: null },
    },
  ] as unknown as GetInterface[];
}

describe('withHostName', () => {
  it("sets every element's host_name and keeps the rest", () => {
    const body = [
      { host_name: 'typed', iface: 'veth0', bpf_programs: { xdp_ingress: [] } },
      { iface: 'veth1', bpf_programs: {} },
    ];
    expect(withHostName(body, 'edge-b')).toEqual([
      { host_name: 'edge-b', iface: 'veth0', bpf_programs: { xdp_ingress: [] } },
      { host_name: 'edge-b', iface: 'veth1', bpf_programs: {} },
    ]);
    expect(body[0].host_name).toBe('typed');
  });
  it('refuses a body that is not a list of objects', () => {
    expect(() => withHostName({ iface: 'x' }, 'h')).toThrow(/JSON list of interfaces/);
    expect(() => withHostName([1], 'h')).toThrow('payload[0] is not an object');
  });
});

describe('parseRatePorts', () => {
  it('takes a rate, ports or both; empty keeps', () => {
    expect(parseRatePorts('7', '')).toEqual({ rate: 7 });
    expect(parseRatePorts('', '9090, 8080 8080')).toEqual({ ports: [8080, 9090] });
    expect(parseRatePorts('0', '80')).toEqual({ rate: 0, ports: [80] });
  });
  it('refuses nothing to change, a bad rate and a bad port', () => {
    expect(() => parseRatePorts(' ', '')).toThrow('give a rate, ports or both');
    expect(() => parseRatePorts('2.5', '')).toThrow(/rate "2.5" is not a whole number/);
    expect(() => parseRatePorts('', '70000')).toThrow(/port "70000" is not a number 1..65535/);
    expect(() => parseRatePorts('', ' , ')).toThrow(/at least one port/);
  });
});

describe('ratePortsBody', () => {
  it("changes only ratelimiting's map_args, sends every interface and program without status", () => {
    const { body, summary } = ratePortsBody(docs(), { rate: 7 });
    expect(summary).toEqual(['veth0 xdp_ingress ratelimiting rate: 5 → 7 per second']);
    const [e0, e1] = body as Array<{ iface: string; host_name: string; bpf_programs: Record<string, unknown> }>;
    expect(e0.host_name).toBe('edge-a');
    const xdp = e0.bpf_programs.xdp_ingress as Array<Record<string, unknown>>;
    // chain order (seq_id), status dropped
    expect(xdp.map((p) => p.name)).toEqual(['count-and-pass', 'ratelimiting']);
    expect(xdp.every((p) => !('status' in p))).toBe(true);
    expect(xdp[1].map_args).toEqual([
      { name: 'rl_config_map', args: [{ key: 0, value: 7 }] },
      { name: 'rl_ports_map', args: [{ key: 8080, value: 1 }] },
    ]);
    expect(xdp[0]).toEqual(expect.objectContaining({ name: 'count-and-pass', map_args: null }));
    expect(e0.bpf_programs.tc_ingress).toBeNull();
    expect(e0.bpf_programs.tc_egress).toEqual([]);
    expect(e1.iface).toBe('veth1');
  });
  it('replaces the ports and keeps the rate', () => {
    const { body, summary } = ratePortsBody(docs(5, [8080]), { ports: [80, 443] });
    expect(summary).toEqual(['veth0 xdp_ingress ratelimiting ports: 8080 → 80, 443']);
    const xdp = (body[0] as { bpf_programs: { xdp_ingress: Array<{ map_args: unknown }> } }).bpf_programs.xdp_ingress;
    expect(xdp[1].map_args).toEqual([
      { name: 'rl_config_map', args: [{ key: 0, value: 5 }] },
      {
        name: 'rl_ports_map',
        args: [
          { key: 80, value: 1 },
          { key: 443, value: 1 },
        ],
      },
    ]);
  });
  it('says when nothing changes, and refuses an agent without ratelimiting', () => {
    expect(ratePortsBody(docs(7), { rate: 7 }).summary).toEqual(['ratelimiting: already so (no change)']);
    expect(() => ratePortsBody([docs()[1]], { rate: 7 })).toThrow('no ratelimiting program on this agent');
  });
});

function fakeSend(answer: (agent: string, req: SendRequest) => { status: number; data?: unknown; etag?: string }): {
  send: Send;
  calls: string[];
} {
  const calls: string[] = [];
  const send: Send = async (agent, req) => {
    calls.push(`${agent} ${req.method} ${req.path}`);
    const a = answer(agent, req);
    return { status: a.status, headers: a.etag ? { etag: a.etag } : {}, data: a.data };
  };
  return { send, calls };
}

describe('request builders', () => {
  it("rate/ports: reads the agent's desired state and carries its ETag", async () => {
    const { send, calls } = fakeSend(() => ({ status: 200, data: docs(), etag: '"e1"' }));
    const req = await ratePortsRequests(send, { rate: 9 })('a1');
    expect(calls).toEqual(['a1 GET /l3af/configs/v1']);
    expect(req.route).toBe('update');
    expect(req.etag).toBe('"e1"');
    expect(req.summary).toEqual(['veth0 xdp_ingress ratelimiting rate: 5 → 9 per second']);
  });
  it('rate/ports: an unreadable state is an error naming the status', async () => {
    const { send } = fakeSend(() => ({ status: 403, data: { error: 'forbidden' } }));
    await expect(ratePortsRequests(send, { rate: 9 })('a1')).rejects.toThrow(
      'reading the desired state: HTTP 403 forbidden'
    );
  });
  it("payload: each agent gets its own host_name from GET /l3af/host, else the fallback (discovery's host)", async () => {
    const { send } = fakeSend((agent) =>
      agent === 'old'
        ? { status: 404, data: { message: 'Not found' } }
        : { status: 200, data: { hostname: `h-${agent}` } }
    );
    const build = payloadRequests(send, 'add', [{ host_name: 'x', iface: 'veth0' }], (a) =>
      a === 'old' ? 'edge-old' : undefined
    );
    expect((await build('a1')).body).toEqual([{ host_name: 'h-a1', iface: 'veth0' }]);
    expect((await build('old')).body).toEqual([{ host_name: 'edge-old', iface: 'veth0' }]);
    await expect(payloadRequests(send, 'add', [], () => undefined)('old')).rejects.toThrow(
      'reading the host name (GET /l3af/host): HTTP 404 Not found'
    );
    expect(() => payloadRequests(send, 'add', { not: 'a list' })).toThrow(/JSON list/);
  });
});
