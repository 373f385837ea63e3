import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, posix, resolve, win32 } from 'node:path';

/**
 * Where exai keeps its state when EXAI_HOME is unset: the OS per-user dir.
 * - Linux: `$XDG_CONFIG_HOME/exai` (default `~/.config/exai`); macOS: `~/Library/Preferences/exai`.
 * - Windows: `%LOCALAPPDATA%\exai`, the local profile: daemon logs, locks and tokens must not
 *   roam at logon or sit on a redirected SMB share (WINDOWS.md #15; env-paths puts data and
 *   logs under Local too). exai 0.1 used the roaming `%APPDATA%\exai\Config`; while that
 *   holds a registry and `%LOCALAPPDATA%\exai` does not exist, it stays the default, so running
 *   daemons (pm2 keeps their EXAI_HOME), their tokens and client configs written without
 *   EXAI_HOME keep agreeing. Nothing is moved: README "Windows" says how to move it by hand.
 *
 * `platform` and `exists` are for tests (Windows paths on Linux).
 */
export function defaultExaiHome(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform, exists: (path: string) => boolean = existsSync): string {
  if (platform === 'win32') {
    const profile = env.USERPROFILE || homedir();
    const local = win32.join(env.LOCALAPPDATA || win32.join(profile, 'AppData', 'Local'), 'exai');
    const roaming = win32.join(env.APPDATA || win32.join(profile, 'AppData', 'Roaming'), 'exai', 'Config');
    return !exists(local) && exists(win32.join(roaming, 'registry.json')) ? roaming : local;
  }
  if (platform === 'darwin') return join(homedir(), 'Library', 'Preferences', 'exai');
  return join(env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'exai');
}

/** EXAI_HOME made absolute, else defaultExaiHome. */
export function resolveExaiHome(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string {
  const fromEnv = env.EXAI_HOME;
  return fromEnv && fromEnv.trim() !== '' ? pathFor(platform).resolve(fromEnv) : defaultExaiHome(env, platform);
}

function pathFor(platform: NodeJS.Platform): typeof posix {
  return platform === 'win32' ? win32 : posix;
}

/** pm2's own state dir, as pm2 7 computes it (`paths.js`): PM2_HOME, else ~/.pm2. */
export function pm2Home(env: NodeJS.ProcessEnv = process.env): string {
  return env.PM2_HOME && env.PM2_HOME.trim() !== '' ? resolve(env.PM2_HOME) : join(homedir(), '.pm2');
}

/** The two state dirs a process needs to reach the same daemons: exai's and pm2's. */
export interface StateDirs {
  /** EXAI_HOME, absolute. */
  home: string;
  /** PM2_HOME, absolute. */
  pm2Home: string;
}

/**
 * The variables a client config must carry so that a shim launched with nothing else (the
 * Python SDK, Codex and Inspector pass only what the config lists, plus HOME and PATH) finds
 * these state dirs: each one only when it differs from what such a bare environment would
 * default to (DESIGN.md "Environment"). An undefined value means "leave it out". On Windows
 * that bare environment still has USERPROFILE, APPDATA and LOCALAPPDATA (the MCP SDK's
 * `DEFAULT_INHERITED_ENV_VARS`), so the default home is computed from those, as the shim will.
 * `platform` and `env` are for tests.
 */
export function stateDirsEnv(dirs: StateDirs, platform: NodeJS.Platform = process.platform, env: NodeJS.ProcessEnv = process.env): { EXAI_HOME: string | undefined; PM2_HOME: string | undefined } {
  const bare: NodeJS.ProcessEnv = platform === 'win32' ? { USERPROFILE: env.USERPROFILE, APPDATA: env.APPDATA, LOCALAPPDATA: env.LOCALAPPDATA } : {};
  const home = pathFor(platform).resolve(dirs.home);
  return {
    EXAI_HOME: home === defaultExaiHome(bare, platform) ? undefined : home,
    PM2_HOME: resolve(dirs.pm2Home) === pm2Home({}) ? undefined : resolve(dirs.pm2Home),
  };
}

/**
 * A short, stable tag of a state dir (4 hex chars of sha256 of its path), for names that
 * must differ between two EXAI_HOMEs sharing one pm2 (WINDOWS.md #2: on Windows every
 * PM2_HOME shares one pm2 daemon).
 */
export function homeTag(home: string): string {
  return createHash('sha256').update(resolve(home)).digest('hex').slice(0, 4);
}

/** The layout of EXAI_HOME in one place, so no module invents its own file names. */
export function homeLayout(home: string) {
  return {
    home,
    registry: join(home, 'registry.json'),
    registryBackup: join(home, 'registry.json.bak'),
    tokens: join(home, 'tokens'),
    tokenFile: (id: string) => join(home, 'tokens', `${id}.token`),
    /** Values of the variables the launch spec passes to the daemon (beside the token, 0600). */
    envFile: (id: string) => join(home, 'tokens', `${id}.env.json`),
    /** What the exai launcher runs for a workspace's own daemon (.exai/daemon.json, expanded; 0600). */
    daemonLaunchFile: (id: string) => join(home, 'tokens', `${id}.daemon.json`),
    /** `${stateDir}` of a workspace's own daemon: private (0700), its `files` are written there. */
    stateDir: (id: string) => join(home, 'state', id),
    /** One file per live `exai shim --exec` of the workspace (named by its pid): its own daemon idles out without any. */
    leasesDir: (id: string) => join(home, 'state', `${id}.leases`),
    /** Present while the workspace's daemon is idle (src/workspace/idle-marker.ts). */
    idleDir: join(home, 'idle'),
    idleMarker: (id: string) => join(home, 'idle', `${id}.idle`),
    logs: join(home, 'logs'),
    outLog: (name: string) => join(home, 'logs', `${name}.out.log`),
    errLog: (name: string) => join(home, 'logs', `${name}.err.log`),
    shimLog: (id: string) => join(home, 'logs', `shim-${id}.log`),
    /** The last catalog of each upstream server of a workspace, for lazy and stopped ones (0600). */
    catalogs: join(home, 'catalogs'),
    catalogFile: (id: string) => join(home, 'catalogs', `${id}.json`),
    locks: join(home, 'locks'),
    lockFile: (name: string) => join(home, 'locks', `${name}.lock`),
  };
}
export type HomeLayout = ReturnType<typeof homeLayout>;
