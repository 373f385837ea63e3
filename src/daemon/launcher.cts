/**
 * The daemon's process entry, what pm2 runs (src/start/app.ts): it loads the daemon bundle
 * (dist/bundle/daemon.cjs, one file: scripts/bundle.mjs) through V8 with a code cache, so a start
 * — every wake of an idle workspace — neither resolves a few hundred modules nor compiles
 * their code again. Node 20 has no module compile cache (`module.enableCompileCache` is 22+)
 * and its startup-snapshot builder cannot load `node:http`, so this is the cache it has.
 *
 * The cache lives in EXAI_HOME (`cache/daemon-<key>.v8`, dir 0700, file 0600), keyed by the
 * bundle's contents, the Node version and architecture and the V8 flags: V8 refuses data made
 * by another build or with other flags, and a refused or missing cache is written again, once
 * the daemon has run for a moment or when it exits (so it holds the functions that start-up
 * compiled). Without
 * the bundle (a tsc-only build) the unbundled entry runs instead.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Script } from 'node:vm';

/** Written this long after start (or at exit, if sooner): the functions a start compiles are in it by then. */
const WRITE_AFTER_MS = 3_000;

const bundle = join(__dirname, '..', 'bundle', 'daemon.cjs');

function main(): void {
  let source: string;
  try {
    source = readFileSync(bundle, 'utf8');
  } catch {
    // Built without the bundle step: the same daemon, unbundled.
    void import('./main.js');
    return;
  }
  const home = process.env.EXAI_HOME;
  const key = createHash('sha256').update(`${process.version} ${process.arch} ${process.execArgv.join(' ')}\n`).update(source).digest('hex').slice(0, 16);
  const dir = home ? join(home, 'cache') : undefined;
  const file = dir ? join(dir, `daemon-${key}.v8`) : undefined;
  let cachedData: Buffer | undefined;
  try {
    if (file) cachedData = readFileSync(file);
  } catch {
    // none yet (or unreadable): compiled from source, and written below
  }
  const wrapped = `(function (exports, require, module, __filename, __dirname) {${source}\n})`;
  const script = new Script(wrapped, { filename: bundle, cachedData });
  const module = { exports: {} };
  const run = script.runInThisContext() as (exports: object, require: NodeJS.Require, module: object, filename: string, dirname: string) => void;
  run(module.exports, createRequire(bundle), module, bundle, join(bundle, '..'));
  if (dir && file && (cachedData === undefined || script.cachedDataRejected)) {
    let written = false;
    const write = () => {
      if (written) return;
      written = true;
      writeCache(script, dir, file);
    };
    setTimeout(write, WRITE_AFTER_MS).unref();
    // A daemon that exits sooner (an idle timeout of a second or two) leaves it too.
    process.once('exit', write);
  }
}

/** Caches kept: two exai installs (or Node versions) sharing one EXAI_HOME each keep theirs; upgrades age out. */
const KEEP_CACHES = 3;

/** Atomically (temp + rename); then only the newest KEEP_CACHES caches stay. */
function writeCache(script: Script, dir: string, file: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const temp = `${file}.${process.pid}.tmp`;
    writeFileSync(temp, script.createCachedData(), { mode: 0o600 });
    renameSync(temp, file);
    const caches = readdirSync(dir)
      .filter((name) => name.startsWith('daemon-') && name.endsWith('.v8'))
      .map((name) => ({ path: join(dir, name), mtimeMs: statSync(join(dir, name)).mtimeMs }))
      .sort((a, b) => b.mtimeMs - a.mtimeMs);
    for (const old of caches.slice(KEEP_CACHES)) if (old.path !== file) rmSync(old.path, { force: true });
  } catch {
    // A cache that cannot be written costs the next start its compile time, nothing else.
  }
}

main();
