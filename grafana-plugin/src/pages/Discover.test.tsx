import React from 'react';
import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import { DiscoverPanel } from './Discover';
import { fakeBackend, renderPage } from '../test/backend';
import type { AppJsonData } from '../api/settings';

const targets = {
  status: 'success',
  data: {
    activeTargets: [
      {
        labels: {
          job: 'l3af-agent',
          instance: '127.0.0.1:9101',
          l3af_api_url: 'http://127.0.0.1:4101',
          host: 'edge-a',
        },
        health: 'up',
      },
      {
        labels: {
          job: 'l3af-agent',
          instance: '127.0.0.1:9102',
          l3af_api_url: 'http://127.0.0.1:4102',
          host: 'edge-b',
        },
        health: 'up',
      },
      // not admitted by the allow list
      { labels: { job: 'l3af-agent', instance: '10.66.0.1:9100', host: 'rogue' }, health: 'down' },
      // not an l3af job
      { labels: { job: 'node', instance: '127.0.0.1:9100' }, health: 'up' },
    ],
  },
};

describe('Discover page', () => {
  it('lists Prometheus targets and the static list, adopts only allowed agents and saves them with route slots', async () => {
    let saved: { jsonData: AppJsonData } | undefined;
    const { calls } = fakeBackend((c) => {
      if (c.url === 'api/datasources/proxy/uid/prom1/api/v1/targets?state=active') {
        return { status: 200, data: targets };
      }
      if (c.method === 'POST' && c.url === '/api/plugins/l3af-chains-app/settings') {
        saved = c.data as { jsonData: AppJsonData };
        return { status: 200, data: { message: 'Plugin settings updated' } };
      }
      return undefined;
    });
    const onAdopted = jest.fn();
    renderPage(<DiscoverPanel onAdopted={onAdopted} />, [{ name: 'old', url: 'http://10.0.0.1:53000' }], '/', {
      prometheusUid: 'prom1',
    });
    fireEvent.change(screen.getByLabelText('allow list'), { target: { value: 'http://127.0.0.1:*' } });
    fireEvent.change(screen.getByLabelText('static list'), {
      target: { value: 'old http://10.0.0.1:53000\ntyped http://10.0.0.2:53000' },
    });
    fireEvent.click(screen.getByText('Discover'));
    await waitFor(() =>
      expect(screen.getByTestId('discover-summary')).toHaveTextContent('5 found, 4 allowed, 3 to adopt')
    );
    const rogue = screen.getByTestId('discover-agent-10.66.0.1:9100');
    expect(rogue).toHaveTextContent('not allowed');
    expect(within(rogue).getByRole('checkbox')).toBeDisabled();
    expect(within(screen.getByTestId('discover-agent-old')).getByRole('checkbox')).toBeDisabled();
    expect(screen.getByTestId('discover-agent-old')).toHaveTextContent('adopted');
    expect(screen.getByTestId('discover-agent-127.0.0.1:9101')).toHaveTextContent('host=edge-a');
    fireEvent.click(screen.getByText('Select every allowed'));
    fireEvent.click(screen.getByText('Adopt 3 agent(s)'));
    await waitFor(() => expect(onAdopted).toHaveBeenCalled());
    expect(screen.getByTestId('discover-message')).toHaveTextContent('Adopted 3 agent(s); 4 configured.');
    expect(saved?.jsonData.agents?.map((a) => [a.name, a.url, a.host])).toEqual([
      ['old', 'http://10.0.0.1:53000', undefined],
      ['typed', 'http://10.0.0.2:53000', '10.0.0.2'],
      ['127.0.0.1:9101', 'http://127.0.0.1:4101', 'edge-a'],
      ['127.0.0.1:9102', 'http://127.0.0.1:4102', 'edge-b'],
    ]);
    expect(saved?.jsonData.agents?.[2].labels).toEqual(expect.objectContaining({ job: 'l3af-agent', host: 'edge-a' }));
    // the proxy route slots: only adopted agents are reachable
    expect(saved?.jsonData.agent0Url).toBe('http://10.0.0.1:53000');
    expect(saved?.jsonData.agent3Url).toBe('http://127.0.0.1:4102');
    expect(saved?.jsonData.agent4Url).toBeUndefined();
    expect(saved?.jsonData.allowPatterns).toEqual(['http://127.0.0.1:*']);
    expect(saved?.jsonData.prometheusUid).toBe('prom1');
    expect(calls.filter((c) => c.url.includes('plugin-proxy'))).toHaveLength(0);
  });

  it("refuses an allow list that admits every host, and shows Grafana's refusal of a non-admin save", async () => {
    fakeBackend((c) => {
      if (c.url.endsWith('/api/v1/targets?state=active')) {
        return { status: 200, data: targets };
      }
      if (c.method === 'POST' && c.url.endsWith('/settings')) {
        return { status: 403, data: { message: 'Permission denied' } };
      }
      return undefined;
    });
    const onAdopted = jest.fn();
    renderPage(<DiscoverPanel onAdopted={onAdopted} />, []);
    fireEvent.change(screen.getByLabelText('allow list'), { target: { value: 'http://*:*' } });
    fireEvent.click(screen.getByText('Discover'));
    await waitFor(() => expect(screen.getByTestId('discover-error')).toHaveTextContent(/allows every host/));
    fireEvent.change(screen.getByLabelText('allow list'), { target: { value: 'http://127.0.0.1:4101' } });
    fireEvent.click(screen.getByText('Discover'));
    await waitFor(() =>
      expect(screen.getByTestId('discover-summary')).toHaveTextContent('3 found, 1 allowed, 1 to adopt')
    );
    fireEvent.click(within(screen.getByTestId('discover-agent-127.0.0.1:9101')).getByRole('checkbox'));
    fireEvent.click(screen.getByText('Adopt 1 agent(s)'));
    await waitFor(() =>
      expect(screen.getByTestId('discover-error')).toHaveTextContent('Adopting failed: HTTP 403: Permission denied')
    );
    expect(onAdopted).not.toHaveBeenCalled();
  });
});
