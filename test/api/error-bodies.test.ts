// Every 4xx/5xx answer is the documented error document `{ error, problems }` with the problem named, including
// the ones fastify or Node's HTTP parser would answer in their own shapes: a body shorter or longer than its
// Content-Length, a 70 KB header (431), malformed percent-encoding in the path (FST_ERR_BAD_URL), 404, 405, 413,
// 415. The malformed cases are sent over raw sockets.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { Value } from 'typebox/value';
import { buildServer } from '../../agent/src/api/server.ts';
import { ErrorBody } from '../../agent/src/payload/responses.ts';
import { defaultConfig } from '../../agent/src/config/index.ts';
import { createLogger } from '../../agent/src/log.ts';
import type { Engine, OperationResult } from '../../agent/src/engine/index.ts';

const engine: Engine = {
  start: async () => undefined, stop: async () => undefined, running: () => [], get: () => [],
  add: async (): Promise<OperationResult> => ({ results: [] }), update: async (): Promise<OperationResult> => ({ results: [] }),
  delete: async (): Promise<OperationResult> => ({ results: [] }),
};

let app: FastifyInstance;
let port = 0;
before(async () => {
  const config = defaultConfig({ stateDir: '/nonexistent-l3af-state', projectRoot: process.cwd() });
  config.l3af.bodyLimit = 4096;
  app = await buildServer({ engine, config, logger: createLogger({ level: 'warn', destination: new Writable({ write: (_c, _e, cb) => cb() }) }) });
  await app.listen({ host: '127.0.0.1', port: 0 });
  port = (app.server.address() as AddressInfo).port;
});
after(async () => {
  await app.close();
});

interface Answer { status: number; headers: string; body: string }

/** Writes `bytes` on a fresh connection (half-closing it after when `end`), returns every answer read until the server closes. */
function raw(bytes: string | Buffer, opts: { end?: boolean } = {}): Promise<Answer[]> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port }, () => {
      s.write(bytes);
      if (opts.end) s.end();
    });
    const chunks: Buffer[] = [];
    const guard = setTimeout(() => s.destroy(new Error(`no close within 10 s; read: ${Buffer.concat(chunks).toString('latin1').slice(0, 300)}`)), 10_000);
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', (e) => { clearTimeout(guard); if (chunks.length === 0) reject(e); else resolve(parse(Buffer.concat(chunks).toString('utf8'))); });
    s.on('close', () => { clearTimeout(guard); resolve(parse(Buffer.concat(chunks).toString('utf8'))); });
  });
}

/** Splits a stream of HTTP/1.1 answers (each with Content-Length). */
function parse(text: string): Answer[] {
  const out: Answer[] = [];
  let rest = text;
  while (rest.startsWith('HTTP/1.1 ')) {
    const head = rest.indexOf('\r\n\r\n');
    const headers = rest.slice(0, head);
    const len = Number(/content-length: *(\d+)/i.exec(headers)?.[1] ?? 0);
    const body = Buffer.from(rest.slice(head + 4)).subarray(0, len).toString('utf8');
    out.push({ status: Number(headers.slice(9, 12)), headers, body });
    rest = Buffer.from(rest.slice(head + 4)).subarray(len).toString('utf8');
  }
  return out;
}

/** Asserts the error document with at least one problem whose message matches `named`. */
function assertErrorDocument(a: Answer | undefined, status: number, named: RegExp): void {
  assert.ok(a, 'an answer');
  assert.equal(a.status, status, a.body);
  assert.match(a.headers, /content-type: application\/json/i);
  const doc = JSON.parse(a.body) as unknown;
  assert.ok(Value.Check(ErrorBody, doc), `error document shape: ${a.body}`);
  const d = doc as { error: string; problems: Array<{ path: string; message: string }> };
  assert.ok(d.error.length > 0);
  assert.ok(d.problems.some((p) => named.test(p.message)), `a problem names ${named}: ${a.body}`);
}

const host = '127.0.0.1';

test('a body shorter than its Content-Length (connection ends): 400 error document naming it', async () => {
  const answers = await raw(`POST /l3af/configs/v1/add HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n[{"a":1}]`, { end: true });
  assert.equal(answers.length, 1);
  assertErrorDocument(answers[0], 400, /shorter than its Content-Length|ended before the whole request/);
});

test('a body longer than its Content-Length: the request is answered, the bytes after it get a 400 error document', async () => {
  const answers = await raw(`POST /l3af/configs/v1/add HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[]{"host_name":"x"}\r\n\r\n`);
  // the parser may refuse the trailing bytes before the first request is answered: then only the 400 comes back
  assert.ok(answers.length >= 1 && answers.length <= 2, answers.map((a) => a.status).join(','));
  if (answers.length === 2) assert.equal(answers[0]?.status, 200);
  assertErrorDocument(answers.at(-1), 400, /longer than its Content-Length|not a request/);
});

test('a 70 KB header: 431 error document', async () => {
  const answers = await raw(`GET /l3af/configs/v1 HTTP/1.1\r\nHost: ${host}\r\nX-Big: ${'a'.repeat(70 * 1024)}\r\n\r\n`);
  assert.equal(answers.length, 1);
  assertErrorDocument(answers[0], 431, /headers exceed/);
});

test('malformed percent-encoding in the path (FST_ERR_BAD_URL): 400 error document', async () => {
  const body = '[]';
  const answers = await raw(`POST /l3af/configs/%c0%ae/update HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
  assertErrorDocument(answers[0], 400, /percent-encoding/);
  const get = await raw(`GET /l3af/configs/%zz HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  assertErrorDocument(get[0], 400, /not a valid url component/);
});

test('404, 405 (with Allow), 413 and a body that is not JSON under any content type are error documents', async () => {
  const r404 = await app.inject({ method: 'GET', url: '/nowhere' });
  assertErrorDocument({ status: r404.statusCode, headers: `content-type: ${String(r404.headers['content-type'])}`, body: r404.body }, 404, /no route GET \/nowhere/);
  const r405 = await app.inject({ method: 'PUT', url: '/l3af/configs/v1/add' });
  assertErrorDocument({ status: r405.statusCode, headers: `content-type: ${String(r405.headers['content-type'])}`, body: r405.body }, 405, /PUT is not allowed on \/l3af\/configs\/v1\/add \(allowed: .*POST/);
  assert.match(String(r405.headers.allow), /POST/);
  const del = await app.inject({ method: 'DELETE', url: '/l3af/configs/v1' });
  assertErrorDocument({ status: del.statusCode, headers: `content-type: ${String(del.headers['content-type'])}`, body: del.body }, 405, /allowed: GET/);
  const big = JSON.stringify([{ host_name: 'h', iface: 'i', pad: 'x'.repeat(5000) }]);
  const r413 = await raw(`POST /l3af/configs/v1/add HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: ${big.length}\r\nConnection: close\r\n\r\n${big}`);
  assertErrorDocument(r413[0], 413, /body/i);
  // any content type is read as JSON (l3afd's leniency: curl -d sends form-urlencoded), so text that is not JSON is a 400
  const notJson = await app.inject({ method: 'POST', url: '/l3af/configs/v1/add', headers: { 'content-type': 'text/plain' }, payload: '{' });
  assertErrorDocument({ status: notJson.statusCode, headers: `content-type: ${String(notJson.headers['content-type'])}`, body: notJson.body }, 400, /JSON/i);
});
