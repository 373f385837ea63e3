/**
 * Isolation and process plumbing for the benchmarks, the same way the tests isolate: a temp
 * EXAI_HOME and PM2_HOME per environment, a random high EXAI_PORT_BASE, and a cleanup that
 * runs `pm2 kill` on that PM2_HOME (by the CLI, never by process name) and removes the temp
 * dir, also when a section throws or the user presses Ctrl-C.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CLI = join(ROOT, 'dist', 'cli', 'main.js');
export const PM2_BIN = join(ROOT, 'node_modules', 'pm2', 'bin', 'pm2');
export const DIST = (rel) => join(ROOT, 'dist', rel);

/** Every live environment, so a SIGINT (or a crash) can still take its pm2 daemon down. */
const live = new Set();
/** CLI children in flight: killed first on a signal, so none starts a pm2 daemon after the kill. */
const running = new Set();

let workspaceCounter = 0;

export function makeBenchEnv(label) {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), `exai-bench-${label}-`)));
  const home = join(dir, 'home');
  const pm2Home = join(dir, 'pm2');
  const portStride = 10;
  const portBase = 20_000 + Math.floor(Math.random() * 3_500) * 10;
  const env = {
    ...process.env,
    EXAI_HOME: home,
    PM2_HOME: pm2Home,
    EXAI_PORT_BASE: String(portBase),
    EXAI_PORT_STRIDE: String(portStride),
  };
  delete env.EXAI_WS_PORT;
  delete env.EXAI_WORKSPACE;
  const benchEnv = {
    dir,
    home,
    pm2Home,
    portBase,
    env,
    workspace(name = `ws${++workspaceCounter}`) {
      const path = join(dir, 'workspaces', name);
      mkdirSync(path, { recursive: true });
      return path;
    },
    /** Kills this environment's pm2 daemon (it takes its apps with it) and keeps the dir. */
    async killPm2() {
      if (existsSync(pm2Home)) await pm2Kill(pm2Home);
    },
    async cleanup() {
      live.delete(benchEnv);
      await benchEnv.killPm2();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  live.add(benchEnv);
  return benchEnv;
}

export function killRunning() {
  for (const child of running) child.kill('SIGKILL');
}

/**
 * Our own direct children (by ppid, from /proc): what a section started and could not close
 * because the signal cut it short (bench/shim.js's daemon, say). SIGINT first, as the daemon
 * shuts down gracefully on it; SIGKILL for whatever is left a second later.
 */
export async function killOwnChildren() {
  const mine = () => {
    try {
      return readdirSync('/proc')
        .filter((d) => /^\d+$/.test(d))
        .map(Number)
        .filter((pid) => {
          try {
            // The command may contain spaces and parentheses: the fields after the last ')'.
            const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
            return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === process.pid;
          } catch {
            return false;
          }
        });
    } catch {
      return [];
    }
  };
  const signal = (pids, sig) => pids.forEach((pid) => {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  });
  signal(mine(), 'SIGINT');
  await sleep(1_000);
  signal(mine(), 'SIGKILL');
}

export async function cleanupAll() {
  await Promise.all([...live].map((e) => e.cleanup().catch(() => undefined)));
}

/** Ctrl-C / SIGTERM: take every pm2 daemon and temp dir we made down, then leave. */
export function installSignalCleanup(onSignal) {
  let stopping = false;
  const handler = (signal) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`\nbench: ${signal}: cleaning up temp pm2 daemons and dirs…\n`);
    killRunning();
    Promise.resolve(onSignal?.())
      .catch(() => undefined)
      .then(() => killOwnChildren())
      .then(() => cleanupAll())
      .finally(() => process.exit(130));
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}

export function pm2Kill(pm2Home) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [PM2_BIN, 'kill'], { env: { ...process.env, PM2_HOME: pm2Home }, stdio: 'ignore' });
    child.on('exit', () => resolve());
    child.on('error', () => resolve());
  });
}

/**
 * Runs a node script as a child and measures wall time from spawn to exit, the way a user's
 * shell would see it. Rejects on a non-zero exit (a benchmark of a failing command is no number).
 */
export function timedNode(args, env, { timeoutMs = 120_000, cwd } = {}) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      running.delete(child);
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      const ms = performance.now() - started;
      running.delete(child);
      clearTimeout(timer);
      if (code !== 0) {
        reject(new Error(`node ${args.map((a) => a.replace(ROOT, '')).join(' ')} exited ${code ?? signal}: ${stderr.trim() || stdout.trim()}`));
        return;
      }
      resolve({ ms, stdout, stderr });
    });
  });
}

export function exai(args, env, options) {
  return timedNode([CLI, ...args], env, options);
}

export function pm2Cli(args, env, options) {
  return timedNode([PM2_BIN, ...args], env, options);
}

/** VmRSS of a live process in bytes (Linux /proc); undefined when it is gone or not Linux. */
export function rssBytes(pid) {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
