import React from 'react';
import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import RolloutPage from './Rollout';
import { fakeBackend, getProgram, renderPage, type Call } from '../test/backend';

const agents = [0, 1, 2].map((i) => ({ name: `a${i}`, url: `http://10.0.0.${i + 1}:53000` }));
const slotOf = (c: Call) => Number(/\/agent(\d+)\//.exec(c.url)?.[1]);

describe('Rollout page', () => {
  it('dry-runs, applies canary then the rest, stops on the failing agent and reverts every changed one', async () => {
    const reverted: number[] = [];
    const { calls } = fakeBackend((c) => {
      const slot = slotOf(c);
      if (c.method === 'POST' && c.url.endsWith('/l3af/configs/v1/update?dry_run=true')) {
        return {
          status: 200,
          headers: { etag: `"s${slot}"` },
          data: {
            dry_run: true,
            ok: true,
            etag: `"s${slot}"`,
            plan: [
              {
                iface: 'veth0',
                direction: 'xdpingress',
                name: 'ratelimiting',
                action: 'replace',
                verifier: { ok: true, insns: 10 },
              },
            ],
          },
        };
      }
      if (c.method === 'POST' && c.url.endsWith('/l3af/configs/v1/update')) {
        expect(c.headers?.['If-Match']).toBe(`"s${slot}"`);
        return slot === 1
          ? {
              status: 422,
              headers: { etag: `"n${slot}"` },
              data: { results: [{ name: 'ratelimiting', outcome: 'failed', error: 'load failed: EPERM' }] },
            }
          : {
              status: 200,
              headers: { etag: `"n${slot}"` },
              data: { results: [{ name: 'ratelimiting', outcome: 'replaced' }] },
            };
      }
      if (c.method === 'GET' && c.url.includes('/l3af/audit')) {
        return {
          status: 200,
          data: {
            entries: [{ id: `id${slot}`, etag_before: `"s${slot}"`, etag_after: `"n${slot}"`, outcome: 'ok' }],
            next_cursor: null,
          },
        };
      }
      if (c.method === 'POST' && c.url.endsWith(`/l3af/audit/id${slot}/revert`)) {
        expect(c.headers?.['If-Match']).toBe(`"n${slot}"`);
        reverted.push(slot);
        return { status: 200, headers: { etag: `"r${slot}"` }, data: { results: [] } };
      }
      return undefined;
    });
    renderPage(<RolloutPage />, agents);
    expect(screen.getByTestId('rollout-selected')).toHaveTextContent('3 agent(s)');
    fireEvent.change(screen.getByLabelText('payload'), {
      target: { value: JSON.stringify([{ host_name: 'h', iface: 'veth0', bpf_programs: { xdp_ingress: [] } }]) },
    });
    fireEvent.change(screen.getByLabelText('waves'), { target: { value: '100' } });
    fireEvent.click(screen.getByLabelText('own host name')); // the body as typed
    fireEvent.click(screen.getByText('Dry run'));
    await waitFor(() => expect(screen.getByTestId('rollout-phase')).toHaveTextContent('ready'));
    expect(within(screen.getByTestId('rollout-agent-a2')).getByText('dry-run-ok')).toBeInTheDocument();
    expect(calls.filter((c) => c.url.endsWith('/update'))).toHaveLength(0);
    fireEvent.click(screen.getByText('Apply'));
    await waitFor(() => expect(screen.getByTestId('rollout-phase')).toHaveTextContent(/^stopped/));
    expect(screen.getByTestId('rollout-phase')).toHaveTextContent(
      'stopped (wave 2 of 2): a1: ratelimiting: load failed: EPERM — reverted'
    );
    for (const a of ['a0', 'a1', 'a2']) {
      expect(within(screen.getByTestId(`rollout-agent-${a}`)).getByText('reverted')).toBeInTheDocument();
    }
    expect(reverted).toEqual([2, 1, 0]);
    // the canary went first, alone
    const applies = calls.filter((c) => c.method === 'POST' && c.url.endsWith('/update')).map(slotOf);
    expect(applies[0]).toBe(0);
  });

  it('shows kernel drift and desired-state drift against a reference agent', async () => {
    const prog = (name: string, version: string, attached = true) => ({
      name,
      version,
      artifact: `${name}.tar.gz`,
      admin_status: 'enabled',
      seq_id: 1,
      start_args: {},
      status: { attached, kernel_prog_id: attached ? 5 : 0, last_error: null, restarts: 0 },
    });
    fakeBackend((c) => {
      const slot = slotOf(c);
      if (c.url.includes('/l3af/configs/v1?status=true')) {
        const xdp =
          slot === 0
            ? [prog('ratelimiting', '1.0')]
            : slot === 1
              ? [prog('ratelimiting', '2.0')]
              : [prog('ratelimiting', '1.0', false)];
        return {
          status: 200,
          data: [
            {
              host_name: 'h',
              iface: 'veth0',
              ipv4_address: '',
              bpf_programs: { xdp_ingress: xdp, tc_ingress: null, tc_egress: null, probes: null },
            },
          ],
        };
      }
      return undefined;
    });
    renderPage(<RolloutPage />, agents);
    fireEvent.change(screen.getByLabelText('reference'), { target: { value: 'a0' } });
    fireEvent.click(screen.getByText('Check drift'));
    await waitFor(() => expect(screen.getByTestId('drift-a2')).toBeInTheDocument());
    expect(screen.getByTestId('drift-a0')).toHaveTextContent('a0: in step');
    expect(screen.getByTestId('drift-a1')).toHaveTextContent(
      'veth0 xdp_ingress: ratelimiting version 2.0, reference 1.0'
    );
    expect(screen.getByTestId('drift-a2')).toHaveTextContent(
      'kernel: veth0 xdp_ingress ratelimiting: enabled but not attached'
    );
  });

  it('lists an agent audit log and reverts an entry with the current ETag', async () => {
    const { calls } = fakeBackend((c) => {
      if (c.method === 'GET' && c.url.endsWith('/agent1/l3af/audit?limit=50')) {
        return {
          status: 200,
          data: {
            entries: [
              {
                id: '0000000000000003',
                time: '2026-12-05T10:00:00Z',
                identity: 'CN=ops',
                route: 'update',
                outcome: 'ok',
                ifaces: ['veth0'],
                etag_after: '"x"',
              },
            ],
            next_cursor: null,
          },
        };
      }
      if (c.method === 'GET' && c.url.endsWith('/agent1/l3af/configs/v1')) {
        return { status: 200, headers: { etag: '"cur"' }, data: [] };
      }
      if (c.method === 'POST' && c.url.endsWith('/agent1/l3af/audit/0000000000000003/revert')) {
        return { status: 200, headers: { etag: '"after"' }, data: { results: [] } };
      }
      return undefined;
    });
    renderPage(<RolloutPage />, agents);
    fireEvent.change(screen.getByLabelText('history agent'), { target: { value: 'a1' } });
    fireEvent.click(screen.getByText('Show audit log'));
    const row = await screen.findByTestId('audit-0000000000000003');
    expect(row).toHaveTextContent('CN=ops');
    fireEvent.click(within(row).getByText('Revert'));
    await waitFor(() => expect(screen.getByTestId('history-message')).toHaveTextContent('reverted 0000000000000003'));
    expect(calls.find((c) => c.url.endsWith('/revert'))?.headers?.['If-Match']).toBe('"cur"');
  });

  it('rolls out a rate/ports change to the agents chosen by label, each update built from its own state', async () => {
    const labelled = [
      { name: 'e0', url: 'http://10.0.0.1:53000', host: 'edge-0', labels: { fleet: 'lab' } },
      { name: 'e1', url: 'http://10.0.0.2:53000', host: 'edge-1', labels: { fleet: 'lab' } },
      { name: 'other', url: 'http://10.0.0.3:53000', host: 'core-0', labels: { fleet: 'prod' } },
    ];
    const state = (slot: number) => [
      {
        host_name: `edge-${slot}`,
        iface: `veth${slot}`,
        ipv4_address: '',
        bpf_programs: {
          xdp_ingress: [
            getProgram('ratelimiting', 1, {
              map_args: [
                { name: 'rl_config_map', args: [{ key: 0, value: 5 }] },
                { name: 'rl_ports_map', args: [{ key: 8080, value: 1 }] },
              ],
            }),
          ],
          tc_ingress: null,
          tc_egress: null,
          probes: null,
        },
      },
    ];
    const { calls } = fakeBackend((c) => {
      const slot = slotOf(c);
      if (c.method === 'GET' && c.url.endsWith('/l3af/configs/v1')) {
        return { status: 200, headers: { etag: `"s${slot}"` }, data: state(slot) };
      }
      if (c.method === 'POST' && c.url.endsWith('/update?dry_run=true')) {
        return {
          status: 200,
          headers: { etag: `"s${slot}"` },
          data: { dry_run: true, ok: true, etag: `"s${slot}"`, plan: [] },
        };
      }
      if (c.method === 'POST' && c.url.endsWith('/update')) {
        return { status: 200, headers: { etag: `"n${slot}"` }, data: { results: [] } };
      }
      if (c.method === 'GET' && c.url.includes('/l3af/audit')) {
        return {
          status: 200,
          data: { entries: [{ id: `id${slot}`, etag_before: `"s${slot}"`, etag_after: `"n${slot}"` }] },
        };
      }
      return undefined;
    });
    renderPage(<RolloutPage />, labelled);
    fireEvent.change(screen.getByLabelText('labels'), { target: { value: 'fleet=lab' } });
    expect(screen.getByTestId('rollout-selected')).toHaveTextContent('2 agent(s)');
    fireEvent.change(screen.getByLabelText('change kind'), { target: { value: 'rate-ports' } });
    fireEvent.change(screen.getByLabelText('rate'), { target: { value: '7' } });
    fireEvent.change(screen.getByLabelText('ports'), { target: { value: '8080, 9090' } });
    fireEvent.click(screen.getByText('Dry run'));
    await waitFor(() => expect(screen.getByTestId('rollout-phase')).toHaveTextContent('ready'));
    expect(screen.getByTestId('rollout-agent-e1')).toHaveTextContent(
      'veth1 xdp_ingress ratelimiting rate: 5 → 7 per second; veth1 xdp_ingress ratelimiting ports: 8080 → 8080, 9090'
    );
    fireEvent.click(screen.getByText('Apply'));
    await waitFor(() => expect(screen.getByTestId('rollout-phase')).toHaveTextContent(/^done/));
    expect(screen.getByTestId('rollout-counts')).toHaveTextContent(/applied: 2 — 2 agents in \d+\.\d s/);
    const writes = calls.filter((c) => c.method === 'POST' && c.url.endsWith('/update'));
    expect(writes.map((c) => [slotOf(c), c.headers?.['If-Match']])).toEqual([
      [0, '"s0"'],
      [1, '"s1"'],
    ]);
    const body = writes[1].data as Array<{
      host_name: string;
      iface: string;
      bpf_programs: { xdp_ingress: Array<{ map_args: unknown }> };
    }>;
    expect(body[0].host_name).toBe('edge-1');
    expect(body[0].iface).toBe('veth1');
    expect(body[0].bpf_programs.xdp_ingress[0].map_args).toEqual([
      { name: 'rl_config_map', args: [{ key: 0, value: 7 }] },
      {
        name: 'rl_ports_map',
        args: [
          { key: 8080, value: 1 },
          { key: 9090, value: 1 },
        ],
      },
    ]);
    // the agent outside the label was never called
    expect(calls.some((c) => slotOf(c) === 2)).toBe(false);
  });

  it("rolls one payload out to many agents with each agent's own host_name", async () => {
    const { calls } = fakeBackend((c) => {
      const slot = slotOf(c);
      if (c.method === 'GET' && c.url.endsWith('/l3af/host')) {
        return { status: 200, data: { hostname: `node-${slot}` } };
      }
      if (c.method === 'POST' && c.url.endsWith('/add?dry_run=true')) {
        return { status: 200, data: { dry_run: true, ok: true, etag: `"s${slot}"`, plan: [] } };
      }
      return undefined;
    });
    renderPage(<RolloutPage />, agents);
    fireEvent.change(screen.getByLabelText('route'), { target: { value: 'add' } });
    fireEvent.change(screen.getByLabelText('payload'), {
      target: {
        value: JSON.stringify([{ host_name: 'typed-once', iface: 'eth0', bpf_programs: { xdp_ingress: [] } }]),
      },
    });
    fireEvent.click(screen.getByText('Dry run'));
    await waitFor(() => expect(screen.getByTestId('rollout-phase')).toHaveTextContent('ready'));
    const dry = calls.filter((c) => c.url.endsWith('?dry_run=true'));
    expect(dry.map((c) => (c.data as Array<{ host_name: string }>)[0].host_name).sort()).toEqual([
      'node-0',
      'node-1',
      'node-2',
    ]);
    for (const c of dry) {
      expect((c.data as Array<{ host_name: string }>)[0].host_name).toBe(`node-${slotOf(c)}`);
    }
    expect(screen.getByTestId('rollout-agent-a1')).toHaveTextContent('host_name node-1');
  });
});
