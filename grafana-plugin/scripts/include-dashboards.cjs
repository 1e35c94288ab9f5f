// Runs after `npm run build` (npm's postbuild): includes the repository's dashboards/*.json in the plugin.
// Each file is copied to dist/dashboards/ and gets a `dashboard` include (imported when the app is enabled)
// plus a nav `page` at d/<uid> in dist/plugin.json. Adding a dashboard is therefore: drop a JSON file into
// dashboards/ (classic JSON model, a stable `uid`, a data source *variable* rather than ${DS_...} inputs) and
// rebuild. Files that could not work when bundled are refused with the reason.
const fs = require('fs');
const path = require('path');

/** Problems that keep a dashboard from being bundled (empty = fine). */
function problemsOf(d) {
  const out = [];
  if (typeof d.uid !== 'string' || !/^[A-Za-z0-9_-]{1,40}$/.test(d.uid)) {
    out.push('needs a stable "uid" (1-40 of A-Z a-z 0-9 _ -)');
  }
  if (typeof d.title !== 'string' || d.title.trim() === '') {
    out.push('needs a "title"');
  }
  if (d.__inputs !== undefined || JSON.stringify(d).includes('${DS_')) {
    out.push('uses ${DS_...} inputs, which only the import UI fills in: use a data source variable instead');
  }
  return out;
}

/**
 * Copies `sourceDir`/*.json into `distDir`/dashboards and rewrites `distDir`/plugin.json's dashboard includes.
 * Returns the includes added; throws an Error listing every refused file.
 */
function includeDashboards({ sourceDir, distDir }) {
  const pluginFile = path.join(distDir, 'plugin.json');
  const plugin = JSON.parse(fs.readFileSync(pluginFile, 'utf8'));
  const files = fs.existsSync(sourceDir)
    ? fs
        .readdirSync(sourceDir)
        .filter((f) => f.endsWith('.json'))
        .sort()
    : [];
  const refused = [];
  const dashboards = [];
  for (const f of files) {
    let d;
    try {
      d = JSON.parse(fs.readFileSync(path.join(sourceDir, f), 'utf8'));
    } catch (err) {
      refused.push(`${f}: not JSON (${err.message})`);
      continue;
    }
    const problems = problemsOf(d);
    if (problems.length > 0) {
      refused.push(...problems.map((p) => `${f}: ${p}`));
      continue;
    }
    dashboards.push({ file: f, uid: d.uid, title: d.title });
  }
  if (refused.length > 0) {
    throw new Error(`dashboards not included:\n  ${refused.join('\n  ')}`);
  }
  const outDir = path.join(distDir, 'dashboards');
  fs.rmSync(outDir, { recursive: true, force: true });
  if (dashboards.length > 0) {
    fs.mkdirSync(outDir, { recursive: true });
  }
  const includes = [];
  for (const d of dashboards) {
    fs.copyFileSync(path.join(sourceDir, d.file), path.join(outDir, d.file));
    includes.push({ type: 'dashboard', name: d.title, path: `dashboards/${d.file}`, uid: d.uid });
    includes.push({ type: 'page', name: d.title, path: `d/${d.uid}`, addToNav: true });
  }
  const own = (plugin.includes || []).filter(
    (i) => i.type !== 'dashboard' && !(i.type === 'page' && /^d\//.test(i.path))
  );
  plugin.includes = [...own, ...includes];
  fs.writeFileSync(pluginFile, `${JSON.stringify(plugin, null, 2)}\n`);
  return includes;
}

module.exports = { includeDashboards, problemsOf };

if (require.main === module) {
  const root = path.join(__dirname, '..');
  const sourceDir = process.env.L3AF_DASHBOARDS_DIR || path.join(root, '..', 'dashboards');
  try {
    const added = includeDashboards({ sourceDir, distDir: path.join(root, 'dist') });
    const n = added.filter((i) => i.type === 'dashboard').length;
    console.log(n === 0 ? `dashboards: none in ${sourceDir}` : `dashboards: included ${n} from ${sourceDir}`);
  } catch (err) {
    console.error(err.message);
    process.exit(1);
  }
}
