/**
 * What pm2 runs for a workspace's own daemon (.exai/daemon.json): reads the expanded launch
 * (tokens/<id>.daemon.json, 0600) so the daemon's env — `${token}`, passed values — never sits
 * in pm2's app env (`pm2 env/show/jlist`) or on a command line; writes its `files` 0600 into the
 * private state dir; runs the daemon in a process group of its own with stdio passed through
 * (pm2's logs), and stops it with SIGTERM to that group, then SIGKILL after a grace, so a
 * daemon that ignores SIGTERM (or its children) does not survive (DESIGN.md).
 *
 * Exits with the daemon's exit code (1 when it could not be started or died of a signal).
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { homeLayout } from '../workspace/layout.js';
import type { DaemonLaunch } from '../workspace/daemon-file.js';

/** SIGTERM first, SIGKILL this much later; below the pm2 app's kill_timeout (src/supervisor/app.ts). */
export const STOP_GRACE_MS = 3_000;

function fail(message: string): never {
  process.stderr.write(`exai launcher: ${message}\n`);
  process.exit(1);
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
  const child = spawn(launch.command, launch.args, { cwd: launch.cwd, env: launch.env, stdio: 'inherit', detached: !windows, windowsHide: true });
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
  // pm2's shutdown message on Windows, where signals do not reach a process.
  process.on('message', (msg) => {
    if (msg === 'shutdown') stop();
  });
  child.on('error', (err) => fail(`cannot run ${JSON.stringify(launch.command)} in ${launch.cwd}: ${(err as NodeJS.ErrnoException).code ?? err.message}`));
  child.on('exit', (code, signal) => {
    // What the daemon left in its group (workers, a shell's children) goes with it.
    killGroup('SIGKILL');
    if (!stopping) process.stderr.write(`exai launcher: ${launch.command} exited ${signal ? `on ${signal}` : `with code ${code}`}\n`);
    process.exit(code ?? 1);
  });
}

main();
