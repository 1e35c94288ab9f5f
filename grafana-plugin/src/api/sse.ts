/**
 * Server-Sent Events over fetch: the agent's `GET /l3af/events` names each event (`event: ratelimiting.drop`,
 * `event: stats`, ...), and EventSource only delivers named events to listeners registered for that exact
 * name; reading the stream with fetch shows every event whatever its type.
 */

/** One event of the stream. */
export interface SseEvent {
  id?: string;
  /** The `event:` field ("message" when absent). */
  type: string;
  /** The `data:` lines joined with "\n". */
  data: string;
}

/** Incremental SSE parser (text/event-stream framing: lines, blank line ends an event, ':' comments). */
export class SseParser {
  #buf = '';
  #id: string | undefined;
  #type: string | undefined;
  #data: string[] = [];

  /** Feeds a chunk; returns the events it completed. */
  push(chunk: string): SseEvent[] {
    this.#buf += chunk;
    const out: SseEvent[] = [];
    let nl: number;
    while ((nl = this.#buf.search(/\r\n|\r|\n/)) >= 0) {
      const line = this.#buf.slice(0, nl);
      const sep = this.#buf.startsWith('\r\n', nl) ? 2 : 1;
      this.#buf = this.#buf.slice(nl + sep);
      if (line === '') {
        if (this.#data.length > 0) {
          out.push({ id: this.#id, type: this.#type ?? 'message', data: this.#data.join('\n') });
        }
        this.#type = undefined;
        this.#data = [];
        continue;
      }
      if (line.startsWith(':')) {
        continue;
      }
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) {
        value = value.slice(1);
      }
      if (field === 'data') {
        this.#data.push(value);
      } else if (field === 'event') {
        this.#type = value;
      } else if (field === 'id') {
        this.#id = value;
      }
    }
    return out;
  }
}

/** What ended a stream. */
export interface StreamEnd {
  /** HTTP status of the answer (0 when it never came). */
  status: number;
  /** Why it ended: the server closed it, the caller aborted, or an error. */
  reason: 'closed' | 'aborted' | 'error';
  message?: string;
}

/**
 * Reads an SSE stream with the browser's fetch (same origin, so Grafana's session cookie applies) and calls
 * `onEvent` for each event; resolves when the stream ends. `onOpen` is called with the status once headers
 * arrive; a non-2xx answer ends the stream with reason "error" and the body's text as message.
 */
export async function readEventStream(
  url: string,
  onEvent: (e: SseEvent) => void,
  opts: { signal?: AbortSignal; onOpen?: (status: number) => void; fetchImpl?: typeof fetch } = {}
): Promise<StreamEnd> {
  const doFetch = opts.fetchImpl ?? window.fetch.bind(window);
  let res: Response;
  try {
    res = await doFetch(url, {
      headers: { Accept: 'text/event-stream' },
      signal: opts.signal,
      credentials: 'same-origin',
    });
  } catch (err) {
    return opts.signal?.aborted
      ? { status: 0, reason: 'aborted' }
      : { status: 0, reason: 'error', message: String(err) };
  }
  opts.onOpen?.(res.status);
  if (!res.ok || !res.body) {
    const text = await res.text().catch(() => '');
    return { status: res.status, reason: 'error', message: text.slice(0, 300) };
  }
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  const parser = new SseParser();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        break;
      }
      for (const e of parser.push(decoder.decode(value, { stream: true }))) {
        onEvent(e);
      }
    }
  } catch (err) {
    return opts.signal?.aborted
      ? { status: res.status, reason: 'aborted' }
      : { status: res.status, reason: 'error', message: String(err) };
  }
  return { status: res.status, reason: 'closed' };
}
