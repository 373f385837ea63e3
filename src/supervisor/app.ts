import type { StartOptions } from 'pm2';
import { CLI_ENTRY } from '../common/install.js';
import { homeLayout } from '../workspace/layout.js';
import { EXIT_ADDR_IN_USE, EXIT_USAGE } from '../common/exit-codes.js';
import { PM2_NAMESPACE, type Workspace } from '../workspace/identity.js';

/**
 * The daemon must come up within this long after pm2 forks it; pm2 itself gives up on
 * `wait_ready` silently, so the supervisor's own health wait is the real bound.
 */
export const LISTEN_TIMEOUT_MS = 10_000;

/**
 * The only variables the daemon inherits from whoever ran exai. pm2 otherwise copies the
 * caller's whole environment into the app (`filter_env` turns that off); upstream servers
 * still need a PATH, a HOME and a locale to start.
 */
const PASSED_ENV = [
  'PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LC_ALL', 'LC_CTYPE', 'TZ', 'TMPDIR', 'TMP', 'TEMP',
  'SystemRoot', 'ComSpec', 'PATHEXT', 'APPDATA', 'LOCALAPPDATA', 'USERPROFILE', 'XDG_CONFIG_HOME',
  'XDG_DATA_HOME', 'XDG_CACHE_HOME', 'XDG_RUNTIME_DIR', 'NODE_EXTRA_CA_CERTS',
];

export interface AppInput {
  workspace: Workspace;
  port: number;
  home: string;
  /** The environment to take PASSED_ENV from (the caller's, by default). */
  env?: NodeJS.ProcessEnv;
}

/** One source of truth for a workspace daemon's pm2 options: `spawn` and ecosystem.config.js. */
export function appOptions({ workspace, port, home, env = process.env }: AppInput): StartOptions {
  const layout = homeLayout(home);
  const passed: Record<string, string> = {};
  // EXAI_PASS_ENV=NAME,NAME adds the user's own variables (say, an API key that an upstream's
  // `${env:NAME}` in servers.json refers to): opt-in, so nothing else of the caller leaks.
  const extra = (env.EXAI_PASS_ENV ?? '').split(',').map((k) => k.trim()).filter((k) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(k));
  for (const key of [...PASSED_ENV, ...extra]) {
    const value = env[key];
    if (value !== undefined) passed[key] = value;
  }
  return {
    name: workspace.name,
    namespace: PM2_NAMESPACE,
    script: CLI_ENTRY,
    args: ['daemon'],
    interpreter: process.execPath,
    // Memory (VmRSS under pm2, bench/fleet.js): V8 lets the young generation grow to 2 x 16 MB
    // semi-spaces although the daemon's live heap is ~12 MB; a 1 MB cap took a daemon that had
    // served 2.5k calls from ~88 to ~78 MB (idle: ~67 -> ~65 MB), round trips unchanged.
    node_args: ['--max-semi-space-size=1'],
    // pm2 otherwise preloads its @pm2/io agent into the app before our code (~35 ms of start-up);
    // the daemon publishes its metrics itself through tx2, which works without it.
    pmx: false,
    cwd: workspace.path,
    // pm2 copies the caller's whole environment into the app unless filtered. `filter_env:
    // true` is documented for that but pm2 7 tests `.length` on it and so ignores it; a list
    // drops every variable whose name contains an entry, and every name contains ''.
    filter_env: [''],
    env: {
      ...passed,
      EXAI_WS_PORT: String(port),
      EXAI_WORKSPACE: workspace.path,
      EXAI_HOME: home,
    },
    autorestart: true,
    wait_ready: true,
    listen_timeout: LISTEN_TIMEOUT_MS,
    // The daemon closes its sessions and exits within a second; give it three before SIGKILL.
    kill_timeout: 3_000,
    shutdown_with_message: true,
    exp_backoff_restart_delay: 100,
    max_restarts: 15,
    min_uptime: 2_000,
    // A port taken by someone else, or a bad environment, will not fix itself: restarting
    // would only spin. The supervisor reads the exit code (and moves a port-less workspace).
    stop_exit_codes: [EXIT_ADDR_IN_USE, EXIT_USAGE],
    out_file: layout.outLog(workspace.name),
    error_file: layout.errLog(workspace.name),
    merge_logs: true,
  } as StartOptions;
}
