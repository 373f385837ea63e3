import type { StartOptions } from 'pm2';
import { DAEMON_ENTRY, nodeExecutable, OWN_DAEMON_LAUNCHER } from '../common/install.js';
import { EXIT_IDLE, NO_RESTART_EXIT_CODES } from '../common/exit-codes.js';
import { PM2_NAMESPACE } from '../workspace/identity.js';
import { homeLayout } from '../workspace/layout.js';
import type { RegistryEntry } from '../workspace/registry-file.js';

/**
 * The daemon must come up within this long after pm2 forks it; pm2 itself gives up on
 * `wait_ready` silently, so the supervisor's own health wait is the real bound.
 */
export const LISTEN_TIMEOUT_MS = 10_000;

/**
 * The pm2 app of a workspace, from its registry entry (its launch spec) alone: the one
 * function behind every start path — `exai spawn`, `exai restart`, the shim's start, the fleet
 * brought back after pm2 died, and ecosystem.config.js (whose apps `pm2 save`/`pm2 resurrect`
 * then carry) — so they all start the identical app (DESIGN.md "Lifecycle").
 *
 * Nothing here comes from the caller's environment: the env holds only the three paths the
 * daemon needs to find its launch spec (and glibc's arena cap); PATH, HOME and the user's passed
 * variables are read by the daemon from `tokens/<id>.env.json` (src/workspace/launch-env.ts), so
 * they never show in `pm2 env`/`pm2 show`/`pm2 jlist` and no path starts the daemon with another
 * shell's.
 */
export function appOptions(entry: Pick<RegistryEntry, 'name' | 'workspace' | 'port'> & Partial<Pick<RegistryEntry, 'id' | 'ownDaemon'>>, home: string): StartOptions {
  if (entry.ownDaemon && entry.id) return ownDaemonOptions({ ...entry, id: entry.id, ownDaemon: entry.ownDaemon }, home);
  return {
    ...commonOptions(entry.name, home),
    // The bundled daemon with a code cache (what `exai daemon` runs, started in about half the time).
    script: DAEMON_ENTRY,
    // Memory (VmRSS under pm2, bench/fleet.js): V8 lets the young generation grow to 2 x 16 MB
    // semi-spaces although the daemon's live heap is ~12 MB; a 1 MB cap took a daemon that had
    // served 2.5k calls from ~88 to ~78 MB (idle: ~67 -> ~65 MB), round trips unchanged.
    // --optimize-for-size: ~2-3 MB less PSS (bench sharing), no change in CPU per relayed call
    // (bench/echo-cpu.js, 2026-12-06).
    node_args: ['--max-semi-space-size=1', '--optimize-for-size'],
    env: {
      EXAI_HOME: home,
      EXAI_WORKSPACE: entry.workspace,
      EXAI_WS_PORT: String(entry.port),
      // glibc gives each thread that allocates its own malloc arena (V8's workers, libuv's pool);
      // two are plenty for a daemon whose JavaScript runs on one thread: ~1.4 MB less PSS. Read
      // by glibc at start, so it can only come from here; upstreams do not inherit it (upstreams/env.ts).
      MALLOC_ARENA_MAX: '2',
    },
    wait_ready: true,
    listen_timeout: LISTEN_TIMEOUT_MS,
    // The daemon closes its sessions and exits within a second; give it three before SIGKILL.
    kill_timeout: 3_000,
    shutdown_with_message: true,
    // A port taken by someone else, a bad environment, a stopped or removed workspace, an idle
    // exit: restarting would only spin or undo the user's intent. The supervisor reads the code.
    stop_exit_codes: [...NO_RESTART_EXIT_CODES],
  } as StartOptions;
}

/** What every workspace app has, exai's daemon or the workspace's own behind exai's launcher. */
function commonOptions(name: string, home: string): StartOptions {
  const layout = homeLayout(home);
  return {
    name,
    namespace: PM2_NAMESPACE,
    args: [],
    // Not a version manager's per-shell link that disappears (fnm on Windows: WINDOWS.md #6).
    interpreter: nodeExecutable(),
    // pm2 otherwise preloads its @pm2/io agent into the app before our code (~35 ms of start-up);
    // the daemon publishes its metrics itself through tx2, which works without it.
    pmx: false,
    // Not the workspace: a process's cwd pins its folder on Windows (no rename, no delete,
    // no `git worktree remove`: WINDOWS.md #11), and the daemon needs none.
    cwd: home,
    // pm2 copies the caller's whole environment into the app unless filtered. `filter_env:
    // true` is documented for that but pm2 7 tests `.length` on it and so ignores it; a list
    // drops every variable whose name contains an entry, and every name contains ''.
    filter_env: [''],
    autorestart: true,
    // No restart delay: pm2 7 marks an app "waiting restart" whenever one is set, even after
    // an exit it was told not to restart (God.js handleExit), so a daemon that exited 98 or
    // idle would show "waiting restart" with pid 0 forever instead of "stopped".
    max_restarts: 15,
    min_uptime: 2_000,
    out_file: layout.outLog(name),
    error_file: layout.errLog(name),
    merge_logs: true,
  } as StartOptions;
}

/** Grace the exai launcher gives a workspace's own daemon between SIGTERM and SIGKILL (src/daemon/own-launcher.ts). */
const OWN_STOP_GRACE_MS = 3_000;

/**
 * The pm2 app of a workspace's own daemon (.exai/daemon.json): the exai launcher, which reads
 * the expanded launch from EXAI_HOME, so pm2's env holds paths and the launch digest only.
 * Readiness is the supervisor's declared check, so no `wait_ready`; pm2 stops it with SIGTERM
 * and the launcher escalates to SIGKILL on the daemon's process group before pm2's own kill.
 */
function ownDaemonOptions(entry: Pick<RegistryEntry, 'name' | 'workspace' | 'port' | 'id'> & { ownDaemon: { spec: string } }, home: string): StartOptions {
  return {
    ...commonOptions(entry.name, home),
    script: OWN_DAEMON_LAUNCHER,
    env: {
      EXAI_HOME: home,
      EXAI_WORKSPACE: entry.workspace,
      EXAI_WORKSPACE_ID: entry.id,
      EXAI_WS_PORT: String(entry.port),
      EXAI_SPEC: entry.ownDaemon.spec,
    },
    // The launcher's idle exit (a `wake` daemon nobody used for its idle timeout) is not restarted.
    stop_exit_codes: [EXIT_IDLE],
    kill_signal: 'SIGTERM',
    kill_timeout: OWN_STOP_GRACE_MS + 2_000,
  } as StartOptions;
}
