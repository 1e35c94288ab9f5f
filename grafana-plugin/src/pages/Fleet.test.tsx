import React from 'react';
import { screen, within } from '@testing-library/react';
import Fleet from './Fleet';
import { fakeBackend, getProgram, renderPage } from '../test/backend';

const host = {
  hostname: 'node-1',
  os: { platform: 'linux', distro: 'Debian GNU/Linux', release: '12', codename: 'bookworm', arch: 'x64' },
  kernel: '6.18.0',
  interfaces: [{ name: 'eth0', mac: '', operstate: 'up', mtu: 1500, internal: false, type: 'wired', addresses: [] }],
  bpf: { btf: true, bpffsMounts: [], bpffsMounted: true, jitEnabled: true, kernelStats: false },
};

describe('Fleet', () => {
  it('without agents, says where to configure them', async () => {
    renderPage(<Fleet />, []);
    expect(await screen.findByTestId('no-agents')).toHaveTextContent('No agents configured');
  });

  it('shows every agent: host facts and programs of a live one, failures, a down one and an mTLS refusal', async () => {
    fakeBackend(({ url }) => {
      if (url.includes('/agent0/l3af/configs/v1')) {
        return {
          status: 200,
          data: [
            {
              host_name: 'node-1',
              iface: 'eth0',
              ipv4_address: '',
              bpf_programs: {
                xdp_ingress: [
                  getProgram('ratelimiting', 1),
                  getProgram('count-and-pass', 2, {
                    status: { attached: false, kernel_prog_id: 0, last_error: 'load failed: EPERM', restarts: 2 },
                  }),
                ],
                tc_ingress: null,
                tc_egress: null,
                probes: null,
              },
            },
          ],
        };
      }
      if (url.includes('/agent0/l3af/host')) {
        return { status: 200, data: host };
      }
      if (url.includes('/agent1/')) {
        return { status: 502, data: 'Bad Gateway' };
      }
      if (url.includes('/agent2/')) {
        return {
          status: 403,
          data: { error: 'forbidden', problems: [{ path: '', message: 'no client certificate' }] },
        };
      }
      return undefined;
    });
    renderPage(<Fleet />, [
      { name: 'a', url: 'http://a:1' },
      { name: 'b', url: 'http://b:1' },
      { name: 'c', url: 'http://c:1' },
    ]);
    const a = await screen.findByTestId('fleet-agent-a');
    expect(await within(a).findByTestId('fleet-programs')).toHaveTextContent(
      '1 of 2 programs running on 1 interfaces.'
    );
    expect(within(a).getByTestId('fleet-host')).toHaveTextContent(
      'node-1 · Debian GNU/Linux 12 (x64) · kernel 6.18.0 · 1 interfaces · BTF yes · JIT on'
    );
    expect(within(a).getByTestId('fleet-failures')).toHaveTextContent(
      'count-and-pass on eth0 / xdp_ingress: load failed: EPERM'
    );
    const b = screen.getByTestId('fleet-agent-b');
    expect(await within(b).findByTestId('agent-error')).toHaveTextContent('Agent not reachable');
    const c = screen.getByTestId('fleet-agent-c');
    expect(await within(c).findByTestId('agent-error')).toHaveTextContent('Permission refused');
    expect(within(c).getByTestId('agent-error')).toHaveTextContent(
      'mTLS roles do not allow this client — no client certificate'
    );
  });

  it('says when an agent has no programs and no host facts route', async () => {
    fakeBackend(({ url }) => (url.endsWith('/l3af/configs/v1?status=true') ? { status: 200, data: [] } : undefined));
    renderPage(<Fleet />, [{ name: 'a', url: 'http://a:1' }]);
    expect(await screen.findByText('No programs on this agent.')).toBeInTheDocument();
    expect(screen.getByTestId('fleet-host')).toHaveTextContent('does not report host facts');
  });
});
