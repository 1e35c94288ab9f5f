/**
 * The Grafana service's image builds the l3af-chains-app plugin itself (deploy/grafana/Dockerfile,
 * stage `plugin`): never an empty mount. No Grafana image is reachable here, so the test builds the
 * plugin stage (with the local Node base) and checks what the final stage copies: dist/ with the
 * plugin.json of grafana-plugin/src and the compiled module.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../engine/helpers.ts';
import { skipUnless } from '../harness/index.ts';
import { LOCAL_IMAGES, PrivateDocker, ensureLocalBaseImages } from '../harness/docker.ts';

const skip = await skipUnless('root');

test('deploy/grafana/Dockerfile: the plugin stage builds grafana-plugin into dist/', { skip, timeout: 1_500_000 }, async (t) => {
  const docker = await PrivateDocker.start();
  try {
    await ensureLocalBaseImages(docker);
    const t0 = Date.now();
    const tag = 'l3af-test/grafana-plugin:build';
    await docker.docker([
      'build', '--network', 'host', '-f', join(ROOT, 'deploy', 'grafana', 'Dockerfile'), '--target', 'plugin',
      '--build-arg', `NODE_IMAGE=${LOCAL_IMAGES.node}`, '-t', tag, ROOT,
    ], { timeoutMs: 1_200_000 });
    t.diagnostic(`plugin stage built in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    const ls = await docker.docker(['run', '--rm', '--network', 'none', tag, 'sh', '-c', 'ls /src/grafana-plugin/dist && cat /src/grafana-plugin/dist/plugin.json'], { timeoutMs: 60_000 });
    const [files, json] = [ls.stdout.slice(0, ls.stdout.indexOf('{')), ls.stdout.slice(ls.stdout.indexOf('{'))];
    t.diagnostic(`dist/: ${files.trim().split('\n').join(' ')}`);
    for (const f of ['module.js', 'plugin.json']) assert.match(files, new RegExp(`^${f.replace('.', '\\.')}$`, 'm'));
    const built = JSON.parse(json) as { id: string; type: string };
    const src = JSON.parse(readFileSync(join(ROOT, 'grafana-plugin', 'src', 'plugin.json'), 'utf8')) as { id: string; type: string };
    assert.equal(built.id, src.id);
    assert.equal(built.type, 'app');
    // the final stage copies exactly this directory into Grafana's plugin directory
    assert.match(readFileSync(join(ROOT, 'deploy', 'grafana', 'Dockerfile'), 'utf8'), new RegExp(`^COPY --from=plugin /src/grafana-plugin/dist/ /var/lib/grafana/plugins/${src.id}/$`, 'm'));
  } finally {
    await docker.dispose();
  }
});
