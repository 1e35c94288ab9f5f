import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
const { includeDashboards } = require('../scripts/include-dashboards.cjs') as {
  includeDashboards: (o: { sourceDir: string; distDir: string }) => Array<Record<string, unknown>>;
};

describe('include-dashboards (postbuild)', () => {
  let dir: string;
  let dist: string;
  let src: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'l3af-dash-'));
    dist = join(dir, 'dist');
    src = join(dir, 'dashboards');
    mkdirSync(dist);
    mkdirSync(src);
    writeFileSync(
      join(dist, 'plugin.json'),
      JSON.stringify({
        id: 'x',
        includes: [
          { type: 'page', name: 'Fleet', path: '/a/x/fleet' },
          { type: 'dashboard', name: 'old', path: 'dashboards/old.json' },
        ],
      })
    );
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const plugin = () =>
    JSON.parse(readFileSync(join(dist, 'plugin.json'), 'utf8')) as { includes: Array<Record<string, unknown>> };

  it('copies each dashboard and adds a dashboard include and a nav page for it', () => {
    writeFileSync(join(src, 'b.json'), JSON.stringify({ uid: 'l3af-b', title: 'B', panels: [] }));
    writeFileSync(join(src, 'a.json'), JSON.stringify({ uid: 'l3af-a', title: 'A', panels: [] }));
    writeFileSync(join(src, 'notes.txt'), 'ignored');
    includeDashboards({ sourceDir: src, distDir: dist });
    expect(readdirSync(join(dist, 'dashboards'))).toEqual(['a.json', 'b.json']);
    expect(plugin().includes).toEqual([
      { type: 'page', name: 'Fleet', path: '/a/x/fleet' },
      { type: 'dashboard', name: 'A', path: 'dashboards/a.json', uid: 'l3af-a' },
      { type: 'page', name: 'A', path: 'd/l3af-a', addToNav: true },
      { type: 'dashboard', name: 'B', path: 'dashboards/b.json', uid: 'l3af-b' },
      { type: 'page', name: 'B', path: 'd/l3af-b', addToNav: true },
    ]);
  });

  it('no dashboards folder: no dashboard includes', () => {
    includeDashboards({ sourceDir: join(dir, 'absent'), distDir: dist });
    expect(plugin().includes).toEqual([{ type: 'page', name: 'Fleet', path: '/a/x/fleet' }]);
  });

  it('refuses dashboards that cannot work bundled, naming file and reason', () => {
    writeFileSync(
      join(src, 'ext.json'),
      JSON.stringify({ uid: 'u', title: 'T', __inputs: [{ name: 'DS_PROMETHEUS' }] })
    );
    writeFileSync(join(src, 'nouid.json'), JSON.stringify({ title: 'T' }));
    expect(() => includeDashboards({ sourceDir: src, distDir: dist })).toThrow(
      /ext\.json: uses \$\{DS_\.\.\.\} inputs[\s\S]*nouid\.json: needs a stable "uid"/
    );
  });

  it('the repository’s dashboards/ (when present) are all includable', () => {
    const repo = join(__dirname, '..', '..', 'dashboards');
    let files: string[] = [];
    try {
      files = readdirSync(repo).filter((f) => f.endsWith('.json'));
    } catch {
      return; // the folder is built by another part of the project; nothing to check without it
    }
    const added = includeDashboards({ sourceDir: repo, distDir: dist });
    expect(added.filter((i) => i.type === 'dashboard')).toHaveLength(files.length);
  });
});
