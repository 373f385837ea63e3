/**
 * What pm2 runs for a workspace's own daemon (.exai/daemon.json): reads the expanded launch
 * (tokens/<id>.daemon.json, 0600) so the daemon's env — `${token}`, passed values — never sits
 * in pm2's app env (`pm2 env/show/jlist`) or on a command line; writes its `files` 0600 into the
 * private state dir; runs the daemon in a process group of its own, its output lines passed to
 * pm2's logs with the time each was written (stamp-lines.ts: `exai logs` orders by it), and
 * stops it with SIGTERM to that group, then SIGKILL after a grace, so a daemon that ignores
 * SIGTERM (or its children) does not survive (DESIGN.md).
 *
 * Exits with the daemon's exit code (1 when it could not be started or died of a signal).
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { monotonicNow } from '../common/clock.js';
import { EXIT_IDLE } from '../common/exit-codes.js';
import { markIdle } from '../workspace/idle-marker.js';
import { homeLayout } from '../workspace/layout.js';
import type { DaemonLaunch } from '../workspace/daemon-file.js';
import { stamped, stampLines } from './stamp-lines.js';

/** SIGTERM first, SIGKILL this much later; below the pm2 app's kill_timeout (src/start/app.ts). */
export const STOP_GRACE_MS = 3_000;

/** One line of the launcher's own on stderr, stamped like the daemon's. */
function say(message: string): void {
  process.stderr.write(stamped(`exai launcher: ${message}`));
}

function fail(message: string): never {
  say(message);
  process.exit(1);
}

/** Leases whose shim still runs (a lease left by a killed shim is removed). */
function liveLeases(dir: string): number {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  let live = 0;
  for (const name of names) {
    // `<pid>` (an `exai shim --exec` session) or `<pid>.start` (an exai start waiting for readiness).
    const pid = Number.parseInt(name, 10);
    try {
      if (Number.isInteger(pid) && pid > 0) process.kill(pid, 0);
      live++;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EPERM') live++;
      else rmSync(join(dir, name), { force: true });
    }
  }
  return live;
}

function main(): void {
  const home = process.env.EXAI_HOME;
  const id = process.env.EXAI_WORKSPACE_ID;
  if (!home || !id) fail('EXAI_HOME and EXAI_WORKSPACE_ID must be set (run by exai through pm2)');
  let launch: DaemonLaunch;
  try {
    launch = JSON.parse(readFileSync(homeLayout(home).daemonLaunchFile(id), 'utf8')) as DaemonLaunch;
  } catch (err) {
    fail(`cannot read the launch of workspace ${id} (${(err as Error).message}); run exai spawn in the workspace`);
  }
  mkdirSync(launch.stateDir, { recursive: true, mode: 0o700 });
  chmodSync(launch.stateDir, 0o700);
  for (const [path, content] of Object.entries(launch.files)) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    writeFileSync(path, content, { mode: 0o600 });
    chmodSync(path, 0o600); // a file that existed keeps its mode otherwise
  }
  const windows = process.platform === 'win32';
  const child = spawn(launch.command, launch.args, { cwd: launch.cwd, env: launch.env, stdio: ['inherit', 'pipe', 'pipe'], detached: !windows, windowsHide: true });
  const output = Promise.all([stampLines(child.stdout, process.stdout), stampLines(child.stderr, process.stderr)]);
  let stopping = false;
  const killGroup = (signal: NodeJS.Signals) => {
    if (child.pid === undefined) return;
    if (windows) {
      if (signal === 'SIGKILL') spawnSync('taskkill', ['/pid', String(child.pid), '/T', '/F'], { windowsHide: true });
      else child.kill(signal);
      return;
    }
    try {
      process.kill(-child.pid, signal);
    } catch {
      // the group is gone already
    }
  };
  const stop = () => {
    if (stopping) return;
    stopping = true;
    killGroup('SIGTERM');
    setTimeout(() => killGroup('SIGKILL'), STOP_GRACE_MS).unref();
  };
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, stop);
  let idled = false;
  if (launch.idleTimeoutMs > 0) {
    // Idle = no live `exai shim --exec` lease for the whole timeout; the next one wakes it.
    let busyAt = monotonicNow();
    const timer = setInterval(() => {
      if (liveLeases(launch.leasesDir) > 0) busyAt = monotonicNow();
      else if (monotonicNow() - busyAt >= launch.idleTimeoutMs && !stopping) {
        idled = true;
        clearInterval(timer);
        markIdle(home!, id!);
        say(`no client for ${launch.idleTimeoutMs} ms; stopping the daemon (idle)`);
        stop();
      }
    }, Math.min(5_000, Math.max(250, Math.floor(launch.idleTimeoutMs / 4))));
    timer.unref();
  }
  // pm2's shutdown message on Windows, where signals do not reach a process.
  process.on('message', (msg) => {
    if (msg === 'shutdown') stop();
  });
  child.on('error', (err) => fail(`cannot run ${JSON.stringify(launch.command)} in ${launch.cwd}: ${(err as NodeJS.ErrnoException).code ?? err.message}`));
  child.on('exit', (code, signal) => {
    // What the daemon left in its group (workers, a shell's children) goes with it.
    killGroup('SIGKILL');
    // Its last lines are still in the pipes; a process outside the group (Windows: no group)
    // may hold them open, so not for long.
    void Promise.race([output, new Promise((resolve) => setTimeout(resolve, 1_000))]).then(() => {
      if (!stopping) say(`${launch.command} exited ${signal ? `on ${signal}` : `with code ${code}`}`);
      process.exit(idled ? EXIT_IDLE : (code ?? 1));
    });
  });
}

main();
