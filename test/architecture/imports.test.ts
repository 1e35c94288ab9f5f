// The shape of agent/src, checked from its imports: the folders form layers (API → desired state →
// reconciler → kernel layer, with the observability side between the engine and the kernel layer), no
// folder imports a folder above it, no two folders import each other through any path, and only the
// kernel layer (agent/src/bpf) binds native code through koffi.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../../agent/src/', import.meta.url));

/**
 * Layers, lowest first. A module may import its own folder and any folder of a lower or equal layer;
 * equal layers may not import each other in a circle (checked below). Top-level files are named by file.
 */
const LAYERS: readonly (readonly string[])[] = [
  ['error-message', 'logger', 'log-output', 'config', 'payload', 'log', 'observer'],
  ['bpf'],
  ['platform'],
  ['chain', 'probes', 'supervisor', 'artifacts', 'store', 'security', 'audit', 'instance'],
  ['metrics'],
  ['events'],
  ['telemetry'],
  ['engine'],
  ['api'],
  ['app'],
  ['main', 'cli'],
];
const rank = new Map(LAYERS.flatMap((names, i) => names.map((n) => [n, i] as const)));

function sources(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) sources(p, out);
    else if (/\.tsx?$/.test(e) && !e.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

/** The folder (or top-level file) a path of agent/src belongs to. */
function unit(path: string): string {
  const parts = relative(SRC, path).split('/');
  return parts.length > 1 ? parts[0]! : parts[0]!.replace(/\.tsx?$/, '');
}

interface Edge { from: string; to: string; file: string; spec: string }

function edges(): { edges: Edge[]; koffi: string[] } {
  const out: Edge[] = [];
  const koffi: string[] = [];
  for (const file of sources(SRC)) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|^\s*import\s+)'([^']+)'/gm)) {
      const spec = m[1]!;
      if (spec === 'koffi' || spec.startsWith('koffi/')) koffi.push(relative(SRC, file));
      if (!spec.startsWith('.')) continue;
      const from = unit(file);
      const to = unit(resolve(dirname(file), spec));
      if (from !== to) out.push({ from, to, file: relative(SRC, file), spec });
    }
  }
  return { edges: out, koffi };
}

test('every folder of agent/src has a declared layer', () => {
  const units = new Set(sources(SRC).map(unit));
  const missing = [...units].filter((u) => !rank.has(u));
  assert.deepEqual(missing, [], `add these to LAYERS in ${relative(process.cwd(), fileURLToPath(import.meta.url))}`);
});

test('no import runs up the layers', () => {
  const up = edges().edges.filter((e) => (rank.get(e.to) ?? -1) > (rank.get(e.from) ?? -1));
  assert.deepEqual(up.map((e) => `${e.file} imports '${e.spec}' (${e.from} → ${e.to})`), []);
});

test('no two folders import each other, through any path', () => {
  const graph = new Map<string, Set<string>>();
  for (const e of edges().edges) {
    if (!graph.has(e.from)) graph.set(e.from, new Set());
    graph.get(e.from)!.add(e.to);
  }
  const reaches = (a: string, b: string): boolean => {
    const seen = new Set<string>();
    const stack = [a];
    while (stack.length > 0) {
      const n = stack.pop()!;
      for (const m of graph.get(n) ?? []) {
        if (m === b) return true;
        if (!seen.has(m)) { seen.add(m); stack.push(m); }
      }
    }
    return false;
  };
  const circles = [...graph].flatMap(([a, tos]) => [...tos].filter((b) => a < b && reaches(b, a)).map((b) => `${a} ↔ ${b}`));
  assert.deepEqual(circles, []);
});

test('only the kernel layer imports koffi', () => {
  const outside = edges().koffi.filter((f) => !f.startsWith('bpf/'));
  assert.deepEqual(outside, []);
  assert.ok(edges().koffi.length > 0, 'the kernel layer binds libbpf through koffi');
});
