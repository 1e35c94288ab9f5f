import React from 'react';
import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import Chains from './ChainsPage';
import { fakeBackend, getProgram, renderPage, type Call } from '../test/backend';
import type { AddUpdateBody } from '../api/types';

const agents = [{ name: 'lab', url: 'http://lab:53000' }];

function iface(programs: unknown[]) {
  return {
    host_name: 'h1',
    iface: 'eth0',
    ipv4_address: '',
    bpf_programs: { xdp_ingress: programs.length ? programs : null, tc_ingress: null, tc_egress: null, probes: null },
  };
}

function backend(
  programs: unknown[],
  onPost?: (c: Call) => { status: number; data?: unknown },
  other?: (c: Call) => { status: number; data?: unknown } | undefined
) {
  return fakeBackend((c) => {
    const o = other?.(c);
    if (o) {
      return o;
    }
    if (c.method === 'POST') {
      return onPost?.(c);
    }
    if (c.url.endsWith('/l3af/configs/v1?status=true')) {
      return { status: 200, data: programs.length ? [iface(programs)] : [] };
    }
    if (c.url.endsWith('/l3af/configs/v1/eth0?status=true')) {
      return { status: 200, data: iface(programs) };
    }
    if (c.url.endsWith('/l3af/chains/eth0')) {
      return {
        status: 200,
        data: {
          iface: 'eth0',
          chains: [
            {
              direction: 'xdp_ingress',
              attach_mode: 'drv',
              root: {
                name: 'xdp-root',
                version: '1',
                kernel_prog_id: 50,
                slot_prog_id: 50,
                linked: true,
                next_prog_id: 101,
              },
              programs: [
                {
                  name: 'ratelimiting',
                  version: 'latest',
                  kernel_prog_id: 101,
                  slot_prog_id: 101,
                  linked: true,
                  next_prog_id: null,
                },
              ],
            },
          ],
        },
      };
    }
    return undefined;
  });
}

const rl = () =>
  getProgram('ratelimiting', 1, {
    map_args: [
      { name: 'rl_config_map', args: [{ key: 0, value: 2 }] },
      { name: 'rl_ports_map', args: [{ key: 8080, value: 1 }] },
    ],
  });

describe('Chains', () => {
  it('lists the chain with status, version and kernel id', async () => {
    backend([
      rl(),
      getProgram('count-and-pass', 2, {
        admin_status: 'disabled',
        status: { attached: false, kernel_prog_id: 0, last_error: null, restarts: 0 },
      }),
    ]);
    renderPage(<Chains />, agents, '/?agent=lab&iface=eth0');
    const row = await screen.findByTestId('row-xdp_ingress-ratelimiting');
    expect(within(row).getByTestId('cell-kernel-id')).toHaveTextContent('101');
    expect(within(row).getByTestId('cell-status')).toHaveTextContent('attached');
    expect(within(row).getByTestId('cell-map-args')).toHaveTextContent('rl_config_map{0:2} rl_ports_map{8080:1}');
    expect(within(screen.getByTestId('row-xdp_ingress-count-and-pass')).getByTestId('cell-status')).toHaveTextContent(
      'disabled'
    );
    expect(await screen.findByText(/kernel: root 50 \(drv\)/)).toBeInTheDocument();
    expect(screen.getByTestId('up-ratelimiting')).toBeDisabled();
    expect(screen.getByTestId('down-count-and-pass')).toBeDisabled();
  });

  it('draws a sparkline per monitored map from the configured Prometheus, "no data" when it has none', async () => {
    const program = getProgram('ratelimiting', 1, {
      monitor_maps: [
        { name: 'rl_drop_count_map', key: 0, aggregator: 'scalar' },
        { name: 'rl_recv_count_map', key: 0, aggregator: 'max-rate' },
      ],
    });
    const { calls } = backend([program], undefined, (c) => {
      if (c.url.startsWith('/api/datasources/proxy/uid/prom/api/v1/query_range')) {
        const q = new URL(c.url, 'http://g').searchParams.get('query') ?? '';
        const result = q.includes('map="rl_drop_count_map"')
          ? [
              {
                metric: {},
                values: [
                  [1, '3'],
                  [2, '9'],
                ],
              },
            ]
          : [];
        return { status: 200, data: { status: 'success', data: { resultType: 'matrix', result } } };
      }
      return undefined;
    });
    renderPage(<Chains />, agents, '/?agent=lab&iface=eth0', { prometheusUid: 'prom' });
    const row = await screen.findByTestId('row-xdp_ingress-ratelimiting');
    const drop = within(row).getByTestId('sparkline-rl_drop_count_map');
    expect((await within(drop).findByTestId('sparkline-path')).getAttribute('d')).toBe('M0.0,18.0 L80.0,0.0');
    expect(within(drop).getByTestId('sparkline-last')).toHaveTextContent('9');
    const recv = within(row).getByTestId('sparkline-rl_recv_count_map');
    expect(await within(recv).findByTestId('sparkline-no-data')).toHaveTextContent('no data');
    const queries = calls
      .filter((c) => c.url.includes('query_range'))
      .map((c) => new URL(c.url, 'http://g').searchParams.get('query'));
    expect(queries).toEqual(
      expect.arrayContaining([
        'l3af_map_value{program="ratelimiting",interface="eth0",direction="xdp_ingress",map="rl_drop_count_map",key="0"}',
        'l3af_map_rate_max_per_second{program="ratelimiting",interface="eth0",direction="xdp_ingress",map="rl_recv_count_map",key="0"}',
      ])
    );
  });

  it('without a Prometheus data source in the settings, the monitored maps say so', async () => {
    backend([
      getProgram('ratelimiting', 1, { monitor_maps: [{ name: 'rl_drop_count_map', key: 0, aggregator: 'scalar' }] }),
    ]);
    renderPage(<Chains />, agents, '/?agent=lab&iface=eth0');
    const row = await screen.findByTestId('row-xdp_ingress-ratelimiting');
    expect(within(row).getByTestId('cell-monitored-maps')).toHaveTextContent(
      'no Prometheus data source set in the app settings'
    );
  });

  it('an interface without programs says so', async () => {
    backend([]);
    renderPage(<Chains />, agents, '/?agent=lab&iface=eth0');
    expect(await screen.findByTestId('no-programs')).toHaveTextContent('lab runs no programs on eth0');
  });

  it('disable: asks first, sends the interface’s update, shows the agent’s per-program result', async () => {
    const { calls } = backend([rl()], () => ({
      status: 200,
      data: {
        results: [
          {
            iface: 'eth0',
            direction: 'xdp_ingress',
            name: 'ratelimiting',
            outcome: 'updated',
            reason: 'admin_status disabled: unloaded, kept in the desired state',
          },
        ],
      },
    }));
    renderPage(<Chains />, agents, '/?agent=lab&iface=eth0');
    fireEvent.click(await screen.findByTestId('disable-ratelimiting'));
    expect(calls.filter((c) => c.method === 'POST')).toHaveLength(0);
    const dialog = await screen.findByRole('dialog');
    fireEvent.click(within(dialog).getByRole('button', { name: 'Disable' }));
    expect(await screen.findByTestId('operation-result')).toHaveTextContent(
      'ratelimiting on eth0 / xdp_ingress: updated — admin_status disabled'
    );
    const post = calls.find((c) => c.method === 'POST')!;
    expect(post.url).toBe('api/plugin-proxy/l3af-chains-app/agent0/l3af/configs/v1/update');
    expect((post.data as AddUpdateBody)[0]?.bpf_programs?.xdp_ingress?.[0]).toMatchObject({
      name: 'ratelimiting',
      admin_status: 'disabled',
    });
  });

  it('a failed program (422) and a refusal (400) are shown plainly', async () => {
    let answer = {
      status: 422,
      data: {
        results: [
          {
            iface: 'eth0',
            direction: 'xdp_ingress',
            name: 'ratelimiting',
            outcome: 'failed',
            reason: 'cannot load: EPERM',
          },
        ],
      },
    } as { status: number; data: unknown };
    backend([rl()], () => answer);
    renderPage(<Chains />, agents, '/?agent=lab&iface=eth0');
    fireEvent.click(await screen.findByTestId('delete-ratelimiting'));
    fireEvent.click(within(await screen.findByRole('dialog')).getByRole('button', { name: 'Delete' }));
    const result = await screen.findByTestId('operation-result');
    expect(result).toHaveTextContent('Delete ratelimiting: failed (HTTP 422)');
    expect(result).toHaveTextContent('failed — cannot load: EPERM');
    answer = {
      status: 400,
      data: { error: 'invalid request', problems: [{ path: '/0/iface', message: 'no such interface' }] },
    };
    fireEvent.click(await screen.findByTestId('delete-ratelimiting'));
    fireEvent.click(within(await screen.findByRole('dialog')).getByRole('button', { name: 'Delete' }));
    expect(await screen.findByTestId('agent-error-problems')).toHaveTextContent('/0/iface no such interface');
  });

  it('edit: the rate field rewrites rl_config_map[0] and keeps the ports', async () => {
    const { calls } = backend([rl()], () => ({ status: 200, data: { results: [] } }));
    renderPage(<Chains />, agents, '/?agent=lab&iface=eth0');
    fireEvent.click(await screen.findByTestId('edit-ratelimiting'));
    fireEvent.change(await screen.findByTestId('edit-rate'), { target: { value: '9' } });
    fireEvent.click(screen.getByTestId('edit-submit'));
    expect(await screen.findByTestId('confirm-body')).toHaveTextContent('rate: 2 → 9 per second');
    fireEvent.click(within(screen.getByRole('dialog')).getByRole('button', { name: 'Apply' }));
    await waitFor(() => expect(calls.some((c) => c.method === 'POST')).toBe(true));
    const prog = (calls.find((c) => c.method === 'POST')!.data as AddUpdateBody)[0]?.bpf_programs?.xdp_ingress?.[0];
    expect(prog?.map_args).toEqual([
      { name: 'rl_config_map', args: [{ key: 0, value: 9 }] },
      { name: 'rl_ports_map', args: [{ key: 8080, value: 1 }] },
    ]);
  });

  it('edit: a bad rate is refused in the form, nothing is sent', async () => {
    const { calls } = backend([rl()]);
    renderPage(<Chains />, agents, '/?agent=lab&iface=eth0');
    fireEvent.click(await screen.findByTestId('edit-ratelimiting'));
    fireEvent.change(await screen.findByTestId('edit-rate'), { target: { value: 'fast' } });
    fireEvent.click(screen.getByTestId('edit-submit'));
    expect(await screen.findByTestId('form-error')).toHaveTextContent('rate "fast" is not a whole number');
    expect(calls.filter((c) => c.method === 'POST')).toHaveLength(0);
  });

  it('add without a repository listing offers the shipped packages and sends add', async () => {
    const { calls } = backend([], () => ({
      status: 200,
      data: { results: [{ iface: 'eth0', direction: 'xdp_ingress', name: 'ratelimiting', outcome: 'added' }] },
    }));
    renderPage(<Chains />, agents, '/?agent=lab&iface=eth0');
    fireEvent.click(await screen.findByTestId('add-program'));
    expect(await screen.findByTestId('no-repository-listing')).toHaveTextContent('does not list its repository');
    fireEvent.change(screen.getByTestId('add-rate'), { target: { value: '7' } });
    fireEvent.change(screen.getByTestId('add-ports'), { target: { value: '80, 443' } });
    fireEvent.click(screen.getByTestId('add-submit'));
    fireEvent.click(within(await screen.findByRole('dialog')).getByRole('button', { name: 'Add' }));
    expect(await screen.findByTestId('operation-result')).toHaveTextContent('added');
    const body = calls.find((c) => c.method === 'POST')!;
    expect(body.url).toMatch(/\/configs\/v1\/add$/);
    expect(body.data).toEqual([
      expect.objectContaining({
        host_name: 'h1',
        iface: 'eth0',
        bpf_programs: {
          xdp_ingress: [
            expect.objectContaining({
              name: 'ratelimiting',
              seq_id: 1,
              map_args: [
                { name: 'rl_config_map', args: [{ key: 0, value: 7 }] },
                {
                  name: 'rl_ports_map',
                  args: [
                    { key: 80, value: 1 },
                    { key: 443, value: 1 },
                  ],
                },
              ],
            }),
          ],
        },
      }),
    ]);
  });

  it('add from the agent’s repository listing: roots left out, latest first, fields from the known package', async () => {
    const packages = [
      { name: 'xdp-root', version: 'latest', platform: 'bookworm', artifact: 'l3af_xdp_root.tar.gz' },
      { name: 'ratelimiting', version: '1.0.0', platform: 'bookworm', artifact: 'l3af_ratelimiting.tar.gz' },
      { name: 'ratelimiting', version: 'latest', platform: 'bookworm', artifact: 'l3af_ratelimiting.tar.gz' },
      { name: 'count-and-pass', version: 'latest', platform: 'bookworm', artifact: 'l3af_count_and_pass.tar.gz' },
    ];
    fakeBackend((c) => {
      if (c.url.endsWith('/l3af/packages')) {
        return { status: 200, data: { repository: 'file:///repo', platform: 'bookworm', packages } };
      }
      if (c.url.endsWith('/l3af/configs/v1/eth0?status=true')) {
        return { status: 200, data: iface([]) };
      }
      if (c.url.endsWith('/l3af/configs/v1?status=true')) {
        return { status: 200, data: [] };
      }
      return undefined;
    });
    renderPage(<Chains />, agents, '/?agent=lab&iface=eth0');
    fireEvent.click(await screen.findByTestId('add-program'));
    const choices = await screen.findByTestId('add-choice');
    await waitFor(() => expect(choices).toHaveTextContent('count-and-pass latest'));
    expect(choices.textContent).toBe('count-and-pass latestratelimiting latestratelimiting 1.0.0');
    fireEvent.click(within(choices).getByText('ratelimiting 1.0.0'));
    expect(screen.getByTestId('add-version')).toHaveValue('1.0.0');
    expect(screen.getByTestId('add-entry')).toHaveValue('_xdp_ratelimiting');
    expect(screen.getByTestId('add-map-name')).toHaveValue('xdp_rl_ingress_next_prog');
    expect(screen.queryByTestId('no-repository-listing')).toBeNull();
  });

  it('an unreachable agent is said plainly', async () => {
    fakeBackend(() => ({ status: 502, data: 'Bad Gateway' }));
    renderPage(<Chains />, agents, '/?agent=lab');
    expect(await screen.findByTestId('agent-error')).toHaveTextContent('Agent "lab" is not reachable');
  });
});
