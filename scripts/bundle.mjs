// Bundles the process entries that start often into one file each (dist/bundle/*.js), after tsc:
// a daemon start (every wake of an idle workspace) then reads and links one file instead of a
// few hundred modules of the MCP SDK, zod and ws. The CLI stays unbundled: its commands load
// only what each needs (LESSONS.md "Measured here (start-up cost)").
//
// - pm2 and tx2 stay external (pm2 is a separate install the CLI drives; tx2 is required at
//   run time, only under pm2).
// - jsonc-parser's UMD build does dynamic requires: take its ESM entry (`module` first).
// - The bundles sit two folders below the package root, like dist/common/*.js, so code that
//   finds package.json or dist/cli/main.js from import.meta.url (version.ts, install.ts) finds
//   the same files bundled or not.
// - CommonJS output, loaded by src/daemon/launcher.cts through node:vm with a V8 code cache
//   (which ES modules cannot have on Node 20); import.meta.url becomes the bundle's own URL.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const entries = process.argv.slice(2);
const all = {
  // What pm2 runs (through dist/daemon/launcher.cjs).
  daemon: 'dist/daemon/main.js',
  // What editors run (`exai shim`, required by dist/cli/main.js): CommonJS skips the ES module
  // loader's own cost for its ~20 modules and ws, in every shim process.
  shim: 'dist/cli/shim.js',
  // The start path (src/start/), which a shim loads only to start (wake) its daemon: out of the
  // shim's bundle, and one file to load when it is needed.
  spawn: 'dist/start/spawn.js',
  // `exai spawn` (required by dist/cli/main.js): its ~60 modules as one file.
  'spawn-command': 'dist/cli/spawn.js',
  // `exai list` (required by dist/cli/main.js): run often (editors, scripts, the bench's 50
  // workspaces), its ~60 modules as one file.
  'list-command': 'dist/cli/list.js',
};

/**
 * The shim's `import('../start/spawn.js')` loads the spawn bundle beside it instead, through
 * `require`: an `import()` of a CommonJS file goes through the ES module loader, which first
 * scans the whole bundle for its exports (measured: 280-450 ms against 45-105 ms for `require`,
 * on every wake of an idle workspace).
 */
const spawnBeside = {
  name: 'spawn-beside',
  setup(b) {
    b.onLoad({ filter: /[\\/]dist[\\/]shim[\\/]run\.js$/ }, async (args) => {
      const text = await readFile(args.path, 'utf8');
      const contents = text.replace("import('../start/spawn.js')", "require('../start/spawn.js')");
      if (contents === text) throw new Error(`${args.path} no longer imports ../start/spawn.js: update spawnBeside in scripts/bundle.mjs`);
      return { contents, loader: 'js', resolveDir: dirname(args.path) };
    });
    b.onResolve({ filter: /\/start\/spawn\.js$/ }, (args) => (/[\\/]shim[\\/]run\.js$/.test(args.importer) ? { path: './spawn.cjs', external: true } : undefined));
  },
};
/**
 * The daemon loads both SDK v2 packages (the client for its upstreams, the server for its
 * sessions); each has its own copy of `@modelcontextprotocol/core` (nested, same version) and
 * its own default JSON Schema validator. In the bundle: one core, whose schemas are built
 * once (~1.4 MB of heap for the second copy), and shims without the validator exai never uses
 * (scripts/sdk-shims.mjs). A core of another version in either package is left as it is.
 */
const sdkLean = {
  name: 'sdk-lean',
  setup(b) {
    const sdk = `${root}node_modules/@modelcontextprotocol`;
    const coreVersion = (pkg) => JSON.parse(readFileSync(`${sdk}/${pkg}/node_modules/@modelcontextprotocol/core/package.json`, 'utf8')).version;
    let oneCore = false;
    try {
      oneCore = coreVersion('client') === coreVersion('server');
    } catch {
      // Not nested (npm deduped them): one core already.
    }
    if (oneCore) {
      b.onResolve({ filter: /^@modelcontextprotocol\/core(\/|$)/ }, (args) =>
        args.pluginData === 'sdk-lean' || !/[\\/]@modelcontextprotocol[\\/]client[\\/]/.test(args.importer)
          ? undefined
          : b.resolve(args.path, { kind: args.kind, resolveDir: `${sdk}/server`, pluginData: 'sdk-lean' }),
      );
    }
    b.onResolve({ filter: /^@modelcontextprotocol\/(client|server)\/_shims$/ }, () => ({ path: `${root}scripts/sdk-shims.mjs` }));
  },
};
const chosen = entries.length ? Object.fromEntries(entries.map((name) => [name, all[name]])) : all;

await build({
  absWorkingDir: root,
  entryPoints: chosen,
  outdir: 'dist/bundle',
  bundle: true,
  platform: 'node',
  format: 'cjs',
  outExtension: { '.js': '.cjs' },
  target: 'node20',
  mainFields: ['module', 'main'],
  external: ['pm2', 'tx2'],
  plugins: [spawnBeside, sdkLean],
  minify: true,
  legalComments: 'none',
  define: { 'import.meta.url': '__exaiModuleUrl' },
  banner: { js: "const __exaiModuleUrl = require('node:url').pathToFileURL(__filename).href;" },
  logLevel: 'warning',
});
