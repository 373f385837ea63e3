/**
 * What pm2 runs: the bundled daemon behind dist/daemon/launcher.cjs, with its V8 code cache in
 * EXAI_HOME. It serves like `exai daemon`; it writes the cache (0600) once it has run for a
 * moment; and a cache that is corrupt or from elsewhere never stops a start.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { getHealth } from './helpers/daemon.js';
import { ROOT, childExit, makeTestEnv, waitFor, type TestEnv } from './helpers/env.js';

const LAUNCHER = join(ROOT, 'dist', 'daemon', 'launcher.cjs');

let t: TestEnv;
const children: ChildProcess[] = [];
beforeAll(() => {
  t = makeTestEnv();
});
afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await childExit(child);
    }
  }
});
afterAll(async () => {
  await t?.cleanup();
});

/** Starts the launcher as pm2 does (IPC channel, the daemon's node args); resolves at 'ready'. */
async function start(workspace: string, port: number, home = t.home): Promise<ChildProcess> {
  const env = { ...t.env, EXAI_HOME: home, EXAI_WORKSPACE: workspace, EXAI_WS_PORT: String(port) };
  const child = spawn(process.execPath, ['--max-semi-space-size=1', LAUNCHER], { env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  children.push(child);
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  await new Promise<void>((resolve, reject) => {
    child.on('message', (m) => m === 'ready' && resolve());
    child.on('exit', (code) => reject(new Error(`launcher exited ${code} before ready: ${stderr}`)));
  });
  return child;
}

const cacheDir = () => join(t.home, 'cache');
const cacheFiles = () => (existsSync(cacheDir()) ? readdirSync(cacheDir()).filter((f) => f.endsWith('.v8')) : []);

describe('the daemon launcher', () => {
  it('serves the workspace, writes its code cache once it has run for a moment, and starts again with it', async () => {
    const ws = t.workspace('launcher');
    const port = t.portBase + 11;
    const first = await start(ws, port);
    const health = await getHealth(port);
    expect(health).toMatchObject({ ok: true, pid: first.pid });
    const [file] = await waitFor(() => (cacheFiles().length ? cacheFiles() : undefined), { what: 'the code cache file', timeoutMs: 20_000 });
    if (process.platform !== 'win32') expect(statSync(join(cacheDir(), file!)).mode & 0o777).toBe(0o600);
    first.kill('SIGTERM');
    expect((await childExit(first)).code).toBe(0);
    const written = statSync(join(cacheDir(), file!)).mtimeMs;

    // V8 accepts it: a refused cache would be written again (at the latest when the daemon exits).
    const second = await start(ws, port);
    expect((await getHealth(port)).pid).toBe(second.pid);
    second.kill('SIGTERM');
    expect((await childExit(second)).code).toBe(0);
    expect(cacheFiles()).toEqual([file]);
    expect(statSync(join(cacheDir(), file!)).mtimeMs).toBe(written);
  });

  it('leaves the cache when it exits sooner than that', async () => {
    const home = join(t.dir, 'short-home');
    const child = await start(t.workspace('launcher-short'), t.portBase + 13, home);
    child.kill('SIGTERM');
    expect((await childExit(child)).code).toBe(0);
    expect(readdirSync(join(home, 'cache')).filter((f) => f.endsWith('.v8'))).toHaveLength(1);
  });

  it('keeps the caches of two other installs sharing the home, and drops the oldest beyond three', async () => {
    const home = join(t.dir, 'shared-home');
    mkdirSync(join(home, 'cache'), { recursive: true });
    const day = 86_400;
    const now = Date.now() / 1000;
    ['other-install', 'older-node', 'oldest'].forEach((name, i) => {
      const path = join(home, 'cache', `daemon-${name}.v8`);
      writeFileSync(path, 'another build');
      utimesSync(path, now - (i + 1) * day, now - (i + 1) * day);
    });
    const child = await start(t.workspace('launcher-shared'), t.portBase + 14, home);
    child.kill('SIGTERM');
    expect((await childExit(child)).code).toBe(0);
    const left = readdirSync(join(home, 'cache')).filter((f) => f.endsWith('.v8'));
    expect(left).toHaveLength(3);
    expect(left).toEqual(expect.arrayContaining(['daemon-other-install.v8', 'daemon-older-node.v8']));
    expect(left).not.toContain('daemon-oldest.v8');
  });

  it('starts with a corrupt cache, and replaces it', async () => {
    const ws = t.workspace('launcher-corrupt');
    const port = t.portBase + 12;
    const [file] = cacheFiles();
    expect(file).toBeDefined();
    const path = join(cacheDir(), file!);
    writeFileSync(path, 'not V8 code cache data');
    const size = statSync(path).size;
    const child = await start(ws, port);
    expect((await getHealth(port)).pid).toBe(child.pid);
    await waitFor(() => (statSync(path).size !== size ? true : undefined), { what: 'the cache to be rewritten', timeoutMs: 20_000 });
  });
});
