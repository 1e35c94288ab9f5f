import { ReadableStream } from 'node:stream/web';
import { TextEncoder } from 'node:util';
import { SseParser, readEventStream } from './sse';

describe('SseParser', () => {
  it('frames named events across chunk boundaries, skips comments, joins data lines', () => {
    const p = new SseParser();
    expect(p.push(': subscribed {}\n\nid: 7\nevent: ratelimiting.dr')).toEqual([]);
    expect(p.push('op\ndata: {"a":1}\n\nevent: stats\r\ndata: x\r\ndata: y\r\n\r\n')).toEqual([
      { id: '7', type: 'ratelimiting.drop', data: '{"a":1}' },
      { id: '7', type: 'stats', data: 'x\ny' },
    ]);
    expect(p.push('data: plain\n\n')).toEqual([{ id: '7', type: 'message', data: 'plain' }]);
  });
});

/** A fetch Response (only what readEventStream reads; jsdom has no Response). */
function response(status: number, chunks: string[]): Response {
  const enc = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      for (const ch of chunks) {
        c.enqueue(enc.encode(ch));
      }
      c.close();
    },
  });
  return { status, ok: status >= 200 && status < 300, body, text: async () => chunks.join('') } as unknown as Response;
}
const streamOf = (chunks: string[]) => response(200, chunks);

describe('readEventStream', () => {
  it('delivers every event and reports the close', async () => {
    const got: string[] = [];
    let opened = 0;
    const end = await readEventStream('/x', (e) => got.push(`${e.type}:${e.data}`), {
      onOpen: (s) => (opened = s),
      fetchImpl: async () => streamOf(['event: a\ndata: 1\n\n', 'event: b\nda', 'ta: 2\n\n']),
    });
    expect(opened).toBe(200);
    expect(got).toEqual(['a:1', 'b:2']);
    expect(end).toEqual({ status: 200, reason: 'closed' });
  });

  it('ends with the status and text of an error answer', async () => {
    const end = await readEventStream('/x', () => undefined, { fetchImpl: async () => response(502, ['Bad Gateway']) });
    expect(end).toEqual({ status: 502, reason: 'error', message: 'Bad Gateway' });
  });

  it('reports a network failure', async () => {
    const end = await readEventStream('/x', () => undefined, {
      fetchImpl: async () => {
        throw new TypeError('fetch failed');
      },
    });
    expect(end).toMatchObject({ status: 0, reason: 'error', message: 'TypeError: fetch failed' });
  });
});
