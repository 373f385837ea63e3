import { createHash } from 'node:crypto';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * Where exai keeps its state. EXAI_HOME wins; otherwise the OS per-user config dir, the
 * same place `conf`/env-paths would pick, so users find it where they expect.
 */
export function defaultExaiHome(env: NodeJS.ProcessEnv = process.env): string {
  if (process.platform === 'win32') {
    return join(env.APPDATA ?? join(homedir(), 'AppData', 'Roaming'), 'exai', 'Config');
  }
  if (process.platform === 'darwin') return join(homedir(), 'Library', 'Preferences', 'exai');
  return join(env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'exai');
}

export function resolveExaiHome(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.EXAI_HOME;
  return fromEnv && fromEnv.trim() !== '' ? resolve(fromEnv) : defaultExaiHome(env);
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
 * default to (DESIGN.md "Environment"). An undefined value means "leave it out".
 */
export function stateDirsEnv(dirs: StateDirs): { EXAI_HOME: string | undefined; PM2_HOME: string | undefined } {
  const bare: NodeJS.ProcessEnv = process.platform === 'win32' ? { APPDATA: process.env.APPDATA, LOCALAPPDATA: process.env.LOCALAPPDATA } : {};
  return {
    EXAI_HOME: resolve(dirs.home) === defaultExaiHome(bare) ? undefined : resolve(dirs.home),
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
    logs: join(home, 'logs'),
    outLog: (name: string) => join(home, 'logs', `${name}.out.log`),
    errLog: (name: string) => join(home, 'logs', `${name}.err.log`),
    shimLog: (id: string) => join(home, 'logs', `shim-${id}.log`),
    locks: join(home, 'locks'),
    lockFile: (name: string) => join(home, 'locks', `${name}.lock`),
  };
}
export type HomeLayout = ReturnType<typeof homeLayout>;
