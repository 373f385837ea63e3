import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { isAlive } from './daemon.js';
import { excludedPortRanges, WINDOWS } from './platform.js';
import type { SpawnResult } from '../../src/start/spawn.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CLI = join(ROOT, 'dist', 'cli', 'main.js');
export const PM2_BIN = join(ROOT, 'node_modules', 'pm2', 'bin', 'pm2');

export interface TestEnv {
  /** Temp root holding everything this test file creates. */
  dir: string;
  home: string;
  pm2Home: string;
  portBase: number;
  portStride: number;
  /** Environment for child processes: the caller's, with exai/pm2 state pointed at temp dirs. */
  env: NodeJS.ProcessEnv;
  /** A fresh empty directory under `dir`, for use as a workspace. */
  workspace(name?: string): string;
  /** `pm2 kill` on this file's PM2_HOME (the CLI, never the API), then remove the temp dir. */
  cleanup(): Promise<void>;
  /**
   * A home of its own for one test (its own EXAI_HOME, registry, workspaces and a slice of this
   * env's port block), on this file's pm2 daemon unless `ownPm2` (a test that kills or saves
   * pm2). Lets the tests of a file run concurrently without sharing mutable state, for the
   * price of one pm2 start per file. Its cleanup frees its pm2 (when its own) and its folder.
   */
  isolated(name: string, opts?: { ownPm2?: boolean }): TestEnv;
  /**
   * Starts this env's pm2 daemon (`pm2 ping`): call it once before tests that share it run
   * concurrently in homes of their own, as each home's exai would otherwise start pm2 at once
   * (exai's start lock is per home).
   */
  startPm2(): Promise<void>;
}

let workspaceCounter = 0;

/**
 * Test ports come from blocks of 1,000 below Linux's ephemeral range (32768+), where the
 * kernel never hands out a client socket's local port. Each TestEnv claims a whole block with
 * a `wx` file holding its pid (stale when that pid is dead), so files running in parallel —
 * and several envs in one file — never share a port. On Windows, blocks that overlap a
 * reserved (excluded) port range are skipped: binds there fail with EACCES (WINDOWS.md #31).
 */
const PORT_BLOCK = 1_000;
const PORT_BLOCKS = { first: 10, last: 31 }; // ports 10000..31999
const PORT_CLAIMS = join(tmpdir(), 'exai-test-ports');

function claimPortBlock(): { base: number; release(): void } {
  mkdirSync(PORT_CLAIMS, { recursive: true });
  const count = PORT_BLOCKS.last - PORT_BLOCKS.first + 1;
  const start = Math.floor(Math.random() * count);
  const reserved = excludedPortRanges();
  for (let i = 0; i < count; i++) {
    const block = PORT_BLOCKS.first + ((start + i) % count);
    const [low, high] = [block * PORT_BLOCK, block * PORT_BLOCK + PORT_BLOCK - 1];
    if (reserved.some((r) => r.start <= high && r.end >= low)) continue;
    const file = join(PORT_CLAIMS, `${block}.claim`);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        writeFileSync(file, String(process.pid), { flag: 'wx' });
        return { base: block * PORT_BLOCK, release: () => rmSync(file, { force: true }) };
      } catch {
        const holder = Number(readFileSync(file, 'utf8'));
        if (holder && isAlive(holder)) break;
        rmSync(file, { force: true }); // left by a test process that died
      }
    }
  }
  throw new Error(`all test port blocks in ${PORT_CLAIMS} are claimed by live processes`);
}

/**
 * Per-test-file isolation: temp EXAI_HOME and PM2_HOME, and a random high port base so two
 * files running at once (or a user's real daemons) never meet on a port.
 */
export function makeTestEnv(): TestEnv {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'exai-test-')));
  const block = claimPortBlock();
  // A random offset inside the block keeps the base random, as the stride leaves room for 90 workspaces.
  const offset = Math.floor(Math.random() * 10);
  return envAt(dir, join(dir, 'pm2'), block.base + offset, true, block.base, offset, () => block.release());
}

/** Ports of one isolated env: a 100-port slice of the block (10 workspaces at stride 10). */
const SLICE = 100;

function envAt(dir: string, pm2Home: string, portBase: number, ownPm2: boolean, blockBase: number, offset: number, release: () => void): TestEnv {
  const home = join(dir, 'home');
  const portStride = 10;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    EXAI_HOME: home,
    PM2_HOME: pm2Home,
    EXAI_PORT_BASE: String(portBase),
    EXAI_PORT_STRIDE: String(portStride),
  };
  let slices = 0;
  const owned: TestEnv[] = []; // isolated envs with a pm2 of their own, freed with this one
  const self: TestEnv = {
    dir,
    home,
    pm2Home,
    portBase,
    portStride,
    env,
    workspace(name = `ws${++workspaceCounter}`) {
      const path = join(dir, 'workspaces', name);
      mkdirSync(path, { recursive: true });
      return path;
    },
    async cleanup() {
      // On Windows every PM2_HOME shares one pm2 daemon (WINDOWS.md #2): `pm2 kill` would end
      // other files' daemons and a developer's own, so only this env's apps are deleted there.
      // An isolated env on its file's pm2 leaves its apps to the file's own cleanup.
      await Promise.all(owned.map((o) => o.cleanup()));
      if (ownPm2 && existsSync(pm2Home)) await (WINDOWS ? pm2DeleteAppsOf(env, home) : pm2Kill(pm2Home));
      rmSync(dir, { recursive: true, force: true });
      release();
    },
    async startPm2() {
      const res = await runPm2(['ping'], env);
      if (res.code !== 0) throw new Error(`pm2 ping exited ${res.code}: ${res.stderr}`);
    },
    isolated(name, opts = {}) {
      // Slices 1..9 of the block (slice 0 is the file's own base); wraps after nine, where ports
      // may meet another isolated env's, which exai's own port check then steps over.
      const slice = (slices++ % 9) + 1;
      const sub = join(dir, 'isolated', name);
      mkdirSync(sub, { recursive: true });
      const isolated = envAt(sub, opts.ownPm2 ? join(sub, 'pm2') : pm2Home, blockBase + slice * SLICE + offset, opts.ownPm2 === true, blockBase, offset, () => undefined);
      if (opts.ownPm2) owned.push(isolated);
      return isolated;
    },
  };
  return self;
}

/** Deletes (by pm_id) the pm2 apps whose EXAI_HOME is `home`, and nothing else. */
async function pm2DeleteAppsOf(env: NodeJS.ProcessEnv, home: string): Promise<void> {
  const apps = (await pm2Apps(env).catch(() => [])) as { pm_id?: number; pm2_env: { EXAI_HOME?: string; env?: { EXAI_HOME?: string } } }[];
  for (const app of apps) {
    const appHome = app.pm2_env.env?.EXAI_HOME ?? app.pm2_env.EXAI_HOME;
    if (appHome === home && app.pm_id !== undefined) await runPm2(['delete', String(app.pm_id)], env);
  }
}

export function pm2Kill(pm2Home: string): Promise<void> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [PM2_BIN, 'kill'], {
      env: { ...process.env, PM2_HOME: pm2Home },
      stdio: 'ignore',
    });
    child.on('exit', () => resolve());
    child.on('error', () => resolve());
  });
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `command` to completion as a real child process and collects its output; killed (and
 * the promise rejected with what it printed) after `timeoutMs`.
 */
export function runProcess(
  command: string,
  args: string[],
  /** `input`: written to stdin, then closed; `undefined` = no stdin at all (/dev/null). */
  options: { env: NodeJS.ProcessEnv; cwd?: string; input?: string; timeoutMs?: number; label?: string },
): Promise<CliResult> {
  const timeoutMs = options.timeoutMs ?? 90_000;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env, cwd: options.cwd, stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${options.label ?? `${command} ${args.join(' ')}`} did not finish in ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    if (options.input !== undefined) {
      child.stdin!.on('error', () => undefined); // a child that exits without reading its input
      child.stdin!.end(options.input);
    }
  });
}

/** Runs the built CLI as a real child process and collects its output. */
export function runCli(
  args: string[],
  env: NodeJS.ProcessEnv,
  options: { cwd?: string; input?: string; timeoutMs?: number } = {},
): Promise<CliResult> {
  // stdin is a pipe that ends at once (the shim and `exai` read it as a client would).
  return runProcess(process.execPath, [CLI, ...args], { ...options, input: options.input ?? '', env, label: `exai ${args.join(' ')}` });
}

/** Runs the pm2 CLI against a test PM2_HOME. */
export function runPm2(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  return runProcess(process.execPath, [PM2_BIN, ...args], { env, label: `pm2 ${args.join(' ')}` });
}

/** Polls `check` until it returns a value (not undefined) or the deadline passes. */
export async function waitFor<T>(
  check: () => Promise<T | undefined> | T | undefined,
  { timeoutMs = 30_000, intervalMs = 100, what = 'condition' } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export function childExit(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/** `pm2 jlist` for a test PM2_HOME, parsed (pm2 may print a banner or warnings around the JSON). */
export async function pm2Apps(env: NodeJS.ProcessEnv): Promise<{ name: string; pid: number; pm2_env: { status: string } }[]> {
  const res = await runPm2(['jlist'], env);
  const line = res.stdout.split('\n').find((l) => l.startsWith('['));
  if (!line) throw new Error(`pm2 jlist printed no JSON: ${res.stdout}${res.stderr}`);
  return JSON.parse(line) as { name: string; pid: number; pm2_env: { status: string } }[];
}

/**
 * The stdio transport an editor would use: `node dist/cli/main.js shim` with this test's
 * EXAI_HOME/PM2_HOME, the workspace's port and folder, and stderr piped for the test to read.
 */
export function shimTransport(env: NodeJS.ProcessEnv, port: number, workspace: string, extra: Record<string, string> = {}): StdioClientTransport {
  const strings: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) strings[k] = v;
  return new StdioClientTransport({
    command: process.execPath,
    args: [CLI, 'shim'],
    env: { ...strings, EXAI_WS_PORT: String(port), EXAI_WORKSPACE: workspace, ...extra },
    stderr: 'pipe',
    cwd: ROOT,
    // The SDK client reads at most 10 MiB per message by default; exai passes up to 32 MiB.
    maxBufferSize: 64 * 1024 * 1024,
  });
}

/**
 * `exai spawn --workspace DIR --json EXTRA…` under `env`, parsed. Throws with spawn's stderr
 * when it exits non-zero, so a failing test shows spawn's own one-line error.
 */
export async function spawnJson<T = SpawnResult>(env: NodeJS.ProcessEnv, dir: string, ...extra: string[]): Promise<T> {
  const res = await runCli(['spawn', '--workspace', dir, '--json', ...extra], env);
  if (res.code !== 0) throw new Error(`exai spawn exited ${res.code}: ${res.stderr}`);
  return JSON.parse(res.stdout) as T;
}
