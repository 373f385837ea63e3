// Helpers of scripts/windows/checks.mjs: isolated state dirs, the built CLI as a child process,
// the process table (Win32_Process on Windows, /proc on Linux), tree kill, /health. Written
// for Windows; the parts that are not Windows-only also run on Linux, which is how the
// script's own logic was exercised on a machine without Windows.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const WIN = process.platform === 'win32';
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CLI = join(ROOT, 'dist', 'cli', 'main.js');
export const PM2_BIN = join(ROOT, 'node_modules', 'pm2', 'bin', 'pm2');

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs a program to its end: { code, stdout, stderr, ms }. Never rejects. */
export function run(command, args, { env = process.env, cwd, timeoutMs = 180_000 } = {}) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(command, args, { env, cwd, windowsHide: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill(), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: null, stdout, stderr: stderr + String(err), ms: Date.now() - started });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/** A synchronous command whose failure is an exception naming its output. */
export function must(command, args) {
  const res = spawnSync(command, args, { encoding: 'utf8', windowsHide: true });
  if (res.status !== 0) throw new Error(`${command} ${args.join(' ')}: exit ${res.status ?? res.error?.message}: ${(res.stderr || res.stdout).trim()}`);
  return res.stdout;
}

export function powershell(script) {
  return must('powershell.exe', ['-NoProfile', '-NonInteractive', '-Command', script]);
}

/** Polls `check` until it returns a value other than undefined, or undefined after `timeoutMs`. */
export async function waitFor(check, timeoutMs, intervalMs = 250) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) return undefined;
    await sleep(intervalMs);
  }
}

/** GET /health on 127.0.0.1:port: the parsed body, or undefined. */
export function health(port, timeoutMs = 2_000) {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/health', timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d) => (body += d));
      res.on('end', () => {
        try {
          resolve(res.statusCode === 200 ? JSON.parse(body) : undefined);
        } catch {
          resolve(undefined);
        }
      });
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
    req.end();
  });
}

/** Every process: [{ pid, ppid, cmd }]. */
export function processes() {
  if (WIN) {
    const json = powershell('Get-CimInstance Win32_Process | Select-Object ProcessId,ParentProcessId,CommandLine | ConvertTo-Json -Compress');
    const rows = JSON.parse(json);
    return (Array.isArray(rows) ? rows : [rows]).map((r) => ({ pid: r.ProcessId, ppid: r.ParentProcessId, cmd: r.CommandLine ?? '' }));
  }
  const out = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      out.push({ pid: Number(entry), ppid, cmd: readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ') });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** Pids below `pid` in the process tree (ParentProcessId links). */
export function descendants(pid, table = processes()) {
  const found = [];
  const queue = [pid];
  while (queue.length) {
    const parent = queue.shift();
    for (const p of table) if (p.ppid === parent && !found.includes(p.pid)) (found.push(p.pid), queue.push(p.pid));
  }
  return found;
}

/** What Codex and VS Code do to end an MCP server on Windows: `taskkill /PID <pid> /T /F`. */
export function treeKill(pid) {
  if (WIN) return void spawnSync('taskkill', ['/PID', String(pid), '/T', '/F'], { windowsHide: true });
  for (const p of [pid, ...descendants(pid)]) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // gone already
    }
  }
}

/** A hard kill of one process (TerminateProcess on Windows, SIGKILL elsewhere). */
export function hardKill(pid) {
  if (WIN) return void spawnSync('taskkill', ['/PID', String(pid), '/F'], { windowsHide: true });
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone already
  }
}

export function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

/**
 * Pids of the pm2 God daemons serving `pm2Home`: on Windows those of the machine (one pipe for
 * all PM2_HOMEs); on Linux the ones whose environment names this PM2_HOME (their title, which
 * names it too, is cut to the length of the original command line).
 */
export function pm2Gods(pm2Home) {
  if (WIN) return processes().filter((p) => /[\\/]pm2[\\/]lib[\\/]Daemon\.js/i.test(p.cmd)).map((p) => p.pid);
  return processes()
    .filter((p) => /God Daemon|pm2\/lib\/Daemon\.js/.test(p.cmd))
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p.pid}/environ`, 'utf8').split('\0').includes(`PM2_HOME=${pm2Home}`);
      } catch {
        return false;
      }
    })
    .map((p) => p.pid);
}

/** `netsh interface ipv4 show excludedportrange protocol=tcp` as [{ start, end }] (Windows' reserved ports). */
export function excludedPortRanges() {
  if (!WIN) return [];
  const res = spawnSync('netsh', ['interface', 'ipv4', 'show', 'excludedportrange', 'protocol=tcp'], { encoding: 'utf8', windowsHide: true });
  if (res.status !== 0) return [];
  return res.stdout
    .split(/\r?\n/)
    .map((line) => /^\s*(\d+)\s+(\d+)\s*\*?\s*$/.exec(line))
    .filter(Boolean)
    .map((m) => ({ start: Number(m[1]), end: Number(m[2]) }));
}

/**
 * One check's own state: EXAI_HOME and PM2_HOME under `dir`, ports base + k * 10 (ten
 * candidates, none in a reserved range: the caller picks `base`).
 */
export class CheckEnv {
  constructor(dir, base) {
    this.dir = dir;
    this.home = join(dir, 'home');
    this.pm2Home = join(dir, 'pm2');
    this.base = base;
    this.env = { ...process.env, EXAI_HOME: this.home, PM2_HOME: this.pm2Home, EXAI_PORT_BASE: String(base), EXAI_PORT_STRIDE: '10' };
    mkdirSync(dir, { recursive: true });
  }

  workspace(name) {
    const path = join(this.dir, 'ws', name);
    mkdirSync(path, { recursive: true });
    return path;
  }

  exai(args, env = this.env) {
    return run(process.execPath, [CLI, ...args], { env, cwd: this.dir });
  }

  pm2(args) {
    return run(process.execPath, [PM2_BIN, ...args], { env: this.env, cwd: this.dir });
  }

  /** `exai spawn --workspace ws --json --no-config`, parsed; throws with stderr when it fails. */
  async spawn(ws, ...extra) {
    const res = await this.exai(['spawn', '--workspace', ws, '--json', '--no-config', ...extra]);
    if (res.code !== 0) throw new Error(`exai spawn ${ws} exited ${res.code}: ${res.stderr.trim()}`);
    return JSON.parse(res.stdout);
  }

  async list() {
    const res = await this.exai(['list', '--json']);
    if (res.code !== 0) throw new Error(`exai list exited ${res.code}: ${res.stderr.trim()}`);
    return JSON.parse(res.stdout);
  }

  /**
   * Takes back what this check started: on Linux its own pm2 daemon (`pm2 kill` of its
   * PM2_HOME); on Windows, where every PM2_HOME shares the machine's one pm2, only its apps.
   */
  async cleanup() {
    if (!WIN) return void (await this.pm2(['kill']));
    const res = await this.pm2(['jlist']);
    const line = res.stdout.split('\n').find((l) => l.startsWith('['));
    for (const app of line ? JSON.parse(line) : []) {
      const appHome = app.pm2_env?.env?.EXAI_HOME ?? app.pm2_env?.EXAI_HOME;
      if (appHome === this.home) await this.pm2(['delete', String(app.pm_id)]);
    }
  }
}
