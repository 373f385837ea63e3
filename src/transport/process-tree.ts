/**
 * Everything about a child process tree that differs between POSIX and Windows, with the
 * platform passed in so that the Windows branches run (and are tested) on Linux too:
 * how to spawn so the tree can be stopped, how to stop it, how to find a command, and how to
 * read what it writes on stderr.
 */
import { spawn as nodeSpawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { isUtf8 } from 'node:buffer';
import { statSync } from 'node:fs';
import type { Socket } from 'node:net';
import path from 'node:path';

export type Platform = NodeJS.Platform;

/**
 * POSIX: the child leads a process group of its own (`detached` = setsid), so that a wrapper
 * (`sh -c`, `npx`, `uvx`) and everything it starts are stopped together. Windows has no
 * process groups, and `detached` there means a new console: the tree is stopped with taskkill.
 */
export function spawnOptions(platform: Platform): Pick<SpawnOptions, 'detached' | 'windowsHide'> {
  return { detached: platform !== 'win32', windowsHide: true };
}

/** Windows starts no program in a working folder of MAX_PATH (260) or more, with the NUL and the last `\`. */
const WIN_MAX_CWD = 248;

/**
 * The working folder to hand to spawn: on Windows a folder path of 248 characters or more is
 * passed in its `\\?\` form, which CreateProcessW accepts where the plain one fails (libuv#4684;
 * WINDOWS.md #5). `problem` is what to add to a failed start's message, so a deep workspace is
 * not reported as a missing command.
 */
export function spawnCwd(cwd: string, platform: Platform): { cwd: string; problem?: string } {
  if (platform !== 'win32' || cwd.length < WIN_MAX_CWD) return { cwd };
  return {
    cwd: path.win32.toNamespacedPath(cwd),
    problem: `its working folder is ${cwd.length} characters long, and Windows may start no program in a folder of ${WIN_MAX_CWD} or more; set a shorter "cwd" in servers.json or move the workspace`,
  };
}

/** One step of stopping a tree: a signal to a POSIX process group, or a Windows taskkill. */
export type KillStep =
  | { kind: 'group'; pgid: number; signal: 'SIGTERM' | 'SIGKILL' }
  | { kind: 'taskkill'; file: 'taskkill'; args: string[]; options: { windowsHide: true; stdio: 'ignore' } };

/**
 * How to send `signal` to the tree led by `pid`. Windows has nothing graceful for a console
 * program tree (taskkill without /F only asks windows to close), so SIGTERM is no step there
 * (null) and SIGKILL is `taskkill /PID <pid> /T /F` (Microsoft's taskkill documentation: /T
 * ends the process and every process it started).
 */
export function killStep(pid: number, signal: 'SIGTERM' | 'SIGKILL', platform: Platform): KillStep | null {
  if (platform !== 'win32') return { kind: 'group', pgid: pid, signal };
  if (signal === 'SIGTERM') return null;
  return { kind: 'taskkill', file: 'taskkill', args: ['/PID', String(pid), '/T', '/F'], options: { windowsHide: true, stdio: 'ignore' } };
}

export interface KillDeps {
  kill: (pid: number, signal: NodeJS.Signals | 0) => void;
  spawn: (file: string, args: string[], options: SpawnOptions) => ChildProcess;
}
const realDeps: KillDeps = { kill: (pid, signal) => process.kill(pid, signal), spawn: nodeSpawn };

/** Runs one kill step; a tree that is already gone is not an error. */
export function runKillStep(step: KillStep, deps: KillDeps = realDeps): void {
  if (step.kind === 'group') {
    try {
      deps.kill(-step.pgid, step.signal);
    } catch {
      // ESRCH: the whole group has exited.
    }
    return;
  }
  const child = deps.spawn(step.file, step.args, step.options);
  child.on('error', () => undefined);
}

/**
 * Whether any process of the group led by `pgid` is still alive (POSIX). A process group id is
 * not reused while any member lives, so this cannot mistake another program for the tree.
 * On Windows nothing can tell, and taskkill /T is final: false.
 */
export function treeAlive(pgid: number, platform: Platform, kill: KillDeps['kill'] = realDeps.kill): boolean {
  if (platform === 'win32') return false;
  try {
    kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The reaper: a tiny `sh` beside each upstream group (POSIX) that holds a pipe from the daemon
 * and never reads anything from it. When the daemon dies, even by SIGKILL, the kernel closes
 * the pipe; the reaper wakes up and stops the group: SIGTERM, then SIGKILL after `graceS`.
 * Linux's parent-death signal reaches only a direct child, never what a wrapper started.
 */
const REAPER_SCRIPT = 'read _ ; kill -s TERM -- "-$1" 2>/dev/null || exit 0; sleep "$2"; kill -s KILL -- "-$1" 2>/dev/null; exit 0';

export function startReaper(pgid: number, graceMs: number, platform: Platform): ChildProcess | undefined {
  if (platform === 'win32') return undefined;
  const seconds = Math.max(1, Math.ceil(graceMs / 1000));
  const reaper = nodeSpawn('/bin/sh', ['-c', REAPER_SCRIPT, 'exai-reaper', String(pgid), String(seconds)], {
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  reaper.on('error', () => undefined);
  reaper.stdin?.on('error', () => undefined);
  // The daemon's own stop ends the group itself; the reaper must not keep its event loop alive.
  reaper.unref();
  (reaper.stdin as Socket | null)?.unref();
  return reaper;
}

/** Ends a reaper without it acting (SIGKILL cannot be caught, so `read` never returns). */
export function dismissReaper(reaper: ChildProcess | undefined): void {
  if (!reaper || reaper.exitCode !== null || reaper.signalCode !== null) return;
  try {
    reaper.kill('SIGKILL');
  } catch {
    // already gone
  }
}

export type Exists = (file: string) => boolean;
const isFile: Exists = (file) => {
  try {
    return statSync(file).isFile();
  } catch {
    return false;
  }
};

/** An environment variable's value, matched case-insensitively on Windows (`Path` is `PATH` there). */
export function envValue(env: Readonly<Record<string, string | undefined>>, name: string, platform: Platform): string | undefined {
  if (platform !== 'win32') return env[name];
  const upper = name.toUpperCase();
  for (const [key, value] of Object.entries(env)) if (key.toUpperCase() === upper) return value;
  return undefined;
}

/**
 * Windows: the full path of `command` as cmd.exe would find it (PATH × PATHEXT, or relative to
 * `cwd` when it names a folder), or undefined when there is none. Under cmd.exe a missing
 * command is exit code 1 plus a localized "not recognized" line, never ENOENT, so exai looks
 * first and can say "not found". Elsewhere the command is returned as is: spawn's ENOENT is
 * reliable there.
 */
export function resolveCommand(
  command: string,
  options: { cwd: string; env: Readonly<Record<string, string | undefined>>; platform: Platform; exists?: Exists },
): string | undefined {
  const { cwd, env, platform } = options;
  if (platform !== 'win32') return command;
  const exists = options.exists ?? isFile;
  const win = path.win32;
  const exts = (envValue(env, 'PATHEXT', platform) ?? '.COM;.EXE;.BAT;.CMD')
    .split(';')
    .filter((e) => e !== '');
  const hasExt = win.extname(command) !== '';
  const candidates = (base: string) => [...(hasExt ? [base] : []), ...exts.map((e) => base + e)];
  const bases = /[\\/]/.test(command) || win.isAbsolute(command)
    ? [win.resolve(cwd, command)]
    : (envValue(env, 'PATH', platform) ?? '').split(';').filter((d) => d !== '').map((dir) => win.join(dir.replace(/^"(.*)"$/, '$1'), command));
  for (const base of bases) {
    for (const candidate of candidates(base)) if (exists(candidate)) return candidate;
  }
  return undefined;
}

/**
 * One stderr line as text. Windows programs and cmd.exe write the OEM code page, which is not
 * UTF-8: a line that is not valid UTF-8 is shown as latin1 there, which keeps ASCII intact and
 * every other byte visible instead of turning it into U+FFFD.
 */
export function decodeLine(bytes: Buffer, platform: Platform): string {
  if (platform === 'win32' && !isUtf8(bytes)) return bytes.toString('latin1');
  return bytes.toString('utf8');
}
