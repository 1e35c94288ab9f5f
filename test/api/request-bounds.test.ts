// One request must not freeze the agent: the issue's worst case (N elements × 64 programs whose every field has
// the wrong type) is answered 400 with a bounded list of problems that says how many were left out, a GET sent at
// the same time is answered, and formatting the validation errors is linear in their number (counted, not timed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { buildServer } from '../../agent/src/api/server.ts';
import { scopeSchemaPaths } from '../../agent/src/api/errors.ts';
import { MAX_PROGRAMS_PER_REQUEST } from '../../agent/src/api/configs-routes.ts';
import { defaultConfig } from '../../agent/src/config/index.ts';
import { createLogger } from '../../agent/src/log.ts';
import { AddUpdateBody, MAX_PROBLEMS, formatSchemaErrors, type SchemaErrorLike } from '../../agent/src/payload/index.ts';
import type { Engine, OperationResult } from '../../agent/src/engine/index.ts';

/** The issue's program: every field it has is of the wrong type, every required one missing. */
const P = { start_args: 1, stop_args: 1, status_args: 1, update_args: 1, config_args: 1, map_args: 1, monitor_maps: 1, event_maps: 1 };

function issueBody(n: number): unknown[] {
  return Array.from({ length: n }, () => ({ host_name: 'h', iface: 'i', bpf_programs: { xdp_ingress: Array.from({ length: 64 }, () => ({ ...P })) } }));
}

const requireFromFormats = createRequire(import.meta.resolve('ajv-formats'));
type Validate = ((data: unknown) => boolean) & { errors?: SchemaErrorLike[] | null };
const AjvClass = (requireFromFormats('ajv') as { default: new (o: object) => { compile(schema: unknown): Validate } }).default;
const validateBody = new AjvClass({ allErrors: true, coerceTypes: false, useDefaults: false, removeAdditional: false }).compile(AddUpdateBody);

/** Reads of `schemaPath` and `keyword` made while formatting the errors of `body` (the formatter's unit of work). */
function formattingWork(body: unknown): { reads: number; errors: number; problems: number } {
  assert.equal(validateBody(body), false);
  const scoped = scopeSchemaPaths(validateBody.errors ?? []);
  let reads = 0;
  const counted = scoped.map((e) => ({
    get keyword() { reads++; return e.keyword; },
    get schemaPath() { reads++; return e.schemaPath; },
    instancePath: e.instancePath, params: e.params, ...(e.message === undefined ? {} : { message: e.message }),
  }));
  const problems = formatSchemaErrors(counted);
  return { reads, errors: scoped.length, problems: problems.length };
}

test(`a body listing more than ${MAX_PROGRAMS_PER_REQUEST} programs is refused before schema validation, naming the count`, async () => {
  const config = defaultConfig({ stateDir: '/nonexistent-l3af-state', projectRoot: process.cwd() });
  const app = await buildServer({ engine, config, logger: createLogger({ level: 'warn', destination: silent }) });
  try {
    const body = Array.from({ length: 65 }, () => ({ host_name: 'h', iface: 'i', bpf_programs: Object.fromEntries(['xdp_ingress', 'tc_ingress', 'tc_egress', 'probes'].map((l) => [l, Array.from({ length: 64 }, () => ({}))])) }));
    const r = await app.inject({ method: 'POST', url: '/l3af/configs/v1/update', payload: body });
    assert.equal(r.statusCode, 400);
    assert.deepEqual(r.json(), { error: 'invalid request', problems: [{ path: '', message: `the body lists ${65 * 256} programs; at most ${MAX_PROGRAMS_PER_REQUEST} per request (send several requests)` }] });
  } finally {
    await app.close();
  }
});

test('formatting validation errors is linear: 4 times the elements, at most 4 times the work per error', () => {
  const small = formattingWork(issueBody(2));
  const large = formattingWork(issueBody(8));
  assert.ok(large.errors >= 4 * small.errors * 0.99, `${large.errors} errors vs ${small.errors}`);
  const perError = (w: { reads: number; errors: number }) => w.reads / w.errors;
  assert.ok(perError(large) <= perError(small) * 1.1,
    `reads per error grew from ${perError(small).toFixed(1)} (${small.errors} errors) to ${perError(large).toFixed(1)} (${large.errors} errors)`);
  assert.equal(large.problems, MAX_PROBLEMS + 1, 'the list is capped, plus one entry saying how many are left out');
});

const silent = new Writable({ write: (_c, _e, cb) => cb() });
const engine: Engine = {
  start: async () => undefined, stop: async () => undefined, running: () => [], get: () => [],
  add: async (): Promise<OperationResult> => ({ results: [] }), update: async (): Promise<OperationResult> => ({ results: [] }),
  delete: async (): Promise<OperationResult> => ({ results: [] }),
};

function send(port: number, method: string, path: string, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test("the issue's case (N=80 × 64 programs, 640 KB): 400 with a bounded list that says so; a concurrent GET is answered", { timeout: 120_000 }, async () => {
  const config = defaultConfig({ stateDir: '/nonexistent-l3af-state', projectRoot: process.cwd() });
  const app = await buildServer({ engine, config, logger: createLogger({ level: 'warn', destination: silent }) });
  try {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const port = (app.server.address() as AddressInfo).port;
    const body = JSON.stringify(issueBody(80));
    assert.ok(body.length > 600_000 && body.length < config.l3af.bodyLimit, `${body.length} bytes`);
    const order: string[] = [];
    const post = send(port, 'POST', '/l3af/configs/v1/add', body).then((r) => { order.push('post'); return r; });
    const gets = Promise.all([send(port, 'GET', '/l3af/configs/v1'), send(port, 'GET', '/openapi.json')]).then((r) => { order.push('get'); return r; });
    const [p, [g, o]] = await Promise.all([post, gets]);
    assert.equal(g.status, 200, 'GET answered');
    assert.deepEqual(JSON.parse(g.body), []);
    assert.equal(o.status, 200);
    assert.equal(p.status, 400);
    const answer = JSON.parse(p.body) as { error: string; problems: Array<{ path: string; message: string }> };
    assert.deepEqual(Object.keys(answer).sort(), ['error', 'problems']);
    assert.equal(answer.error, 'invalid request');
    assert.equal(answer.problems.length, MAX_PROBLEMS + 1);
    for (const pr of answer.problems) assert.deepEqual(Object.keys(pr).sort(), ['message', 'path']);
    assert.match(answer.problems[0]?.path ?? '', /^\/0\/bpf_programs\/xdp_ingress\/0(\/|$)/);
    const last = answer.problems.at(-1);
    assert.equal(last?.path, '');
    const m = /^(\d+) more problems not listed and (\d+) more validation errors in (\d+) more elements not examined \(an answer lists at most (\d+)\)$/.exec(last?.message ?? '');
    assert.ok(m, last?.message);
    assert.equal(Number(m[4]), MAX_PROBLEMS);
    assert.ok(Number(m[1]) > 0, 'the first element alone has more problems than are listed');
    assert.equal(Number(m[3]), 79, 'the other 79 elements are counted, not examined');
    assert.ok(Number(m[2]) >= 79 * 64 * 8, `${m[2]} errors: every wrong field of every other program is counted`);
  } finally {
    await app.close();
  }
});
