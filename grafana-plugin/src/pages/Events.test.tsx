import React from 'react';
import { fireEvent, screen } from '@testing-library/react';
import { ReadableStream } from 'node:stream/web';
import { TextEncoder } from 'node:util';
import Events, { describeEvent } from './Events';
import { renderPage } from '../test/backend';

const drop = {
  program: 'ratelimiting',
  iface: 'eth0',
  direction: 'xdp_ingress',
  seq: 3,
  data: {
    ts_ns: '1',
    drops: 12,
    window_ns: 1e9,
    rate: 2,
    ifindex: 4,
    sport: 40000,
    dport: 8080,
    vlan: 0,
    family: 4,
    saddr: '10.0.0.2',
    daddr: '10.0.0.1',
  },
};

function stream(status: number, chunks: string[], keepOpen = false): Response {
  const enc = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      chunks.forEach((ch) => c.enqueue(enc.encode(ch)));
      if (!keepOpen) {
        c.close();
      }
    },
  });
  return { status, ok: status < 300, body, text: async () => chunks.join('') } as unknown as Response;
}

describe('Events', () => {
  afterEach(() => {
    delete (window as { fetch?: unknown }).fetch;
  });

  it('describes drops and stats in words', () => {
    expect(describeEvent({ type: 'ratelimiting.drop', data: JSON.stringify(drop) })).toBe(
      'eth0 ratelimiting: dropped 10.0.0.2:40000 → 10.0.0.1:8080 (rate 2/s, 12 drops so far)'
    );
    expect(describeEvent({ type: 'stats', data: '{"delivered":5,"dropped":1,"pending":0}' })).toBe(
      'stream: 5 delivered, 1 dropped'
    );
  });

  it('follows the stream through the proxy route and lists events as they come', async () => {
    const fetch = jest.fn(async () =>
      stream(
        200,
        [
          `id: 3\nevent: ratelimiting.drop\ndata: ${JSON.stringify(drop)}\n\n`,
          'event: stats\ndata: {"delivered":1,"dropped":0}\n\n',
        ],
        true
      )
    );
    Object.assign(window, { fetch });
    renderPage(<Events />, [{ name: 'lab', url: 'http://lab:53000' }]);
    fireEvent.change(screen.getByTestId('events-iface'), { target: { value: 'eth0' } });
    fireEvent.click(screen.getByTestId('events-toggle'));
    expect(await screen.findByTestId('event-row')).toHaveTextContent('dropped 10.0.0.2:40000 → 10.0.0.1:8080');
    expect(screen.getByTestId('events-stats')).toHaveTextContent('stream: 1 delivered, 0 dropped');
    expect(fetch).toHaveBeenCalledWith(
      '/api/plugin-proxy/l3af-chains-app/agent0/l3af/events?iface=eth0',
      expect.objectContaining({ credentials: 'same-origin' })
    );
    fireEvent.click(screen.getByTestId('events-toggle'));
  });

  it('says plainly when the agent has no event stream or is down', async () => {
    Object.assign(window, { fetch: jest.fn(async () => stream(404, ['{"error":"not found"}'])) });
    renderPage(<Events />, [{ name: 'lab', url: 'http://lab:53000' }]);
    fireEvent.click(screen.getByTestId('events-toggle'));
    expect(await screen.findByTestId('events-end')).toHaveTextContent('lab does not offer GET /l3af/events.');
    Object.assign(window, { fetch: jest.fn(async () => stream(502, ['Bad Gateway'])) });
    fireEvent.click(screen.getByTestId('events-toggle'));
    expect(await screen.findByText('Agent not reachable')).toBeInTheDocument();
  });
});
