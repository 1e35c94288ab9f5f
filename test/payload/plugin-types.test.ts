/**
 * The Grafana plugin's wire types (grafana-plugin/src/api/wire.gen.ts) are generated from the agent's
 * payload schemas: this fails when the committed file is not what the schemas give today.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { PLUGIN_TYPES_FILE, pluginTypes } from '../../scripts/plugin-types.ts';

test('the plugin\'s generated wire types match the payload schemas', async () => {
  const want = await pluginTypes();
  const have = readFileSync(PLUGIN_TYPES_FILE, 'utf8');
  assert.ok(have === want, `grafana-plugin/src/api/wire.gen.ts is stale: run \`npm run gen:plugin-types\` and commit it (${have.length} bytes committed, ${want.length} generated)`);
});

test('every response shape the plugin reads is generated, with the fields the agent sends', async () => {
  const text = await pluginTypes();
  for (const name of ['BpfProgram', 'GetInterface', 'ProgramStatus', 'UserProgramView', 'OperationResult', 'InterfaceChains', 'DryRunResult', 'AuditEntry']) {
    assert.match(text, new RegExp(`^export (interface|type) ${name}\\b`, 'm'), name);
  }
  // the fields the hand-written copy had lost: the status of a program with a user program, event maps
  const status = /export interface ProgramStatus \{[\s\S]*?\n\}/.exec(text)?.[0] ?? '';
  for (const field of ['running?:', 'user_program?: UserProgramView', 'continues_chain?:', 'reachable?:']) assert.ok(status.includes(field), field);
  assert.match(/export interface BpfProgram \{[\s\S]*?\n\}/.exec(text)?.[0] ?? '', /event_maps\?:/);
});
