import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

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

/** The layout of EXAI_HOME in one place, so no module invents its own file names. */
export function homeLayout(home: string) {
  return {
    home,
    registry: join(home, 'registry.json'),
    registryBackup: join(home, 'registry.json.bak'),
    tokens: join(home, 'tokens'),
    tokenFile: (id: string) => join(home, 'tokens', `${id}.token`),
    logs: join(home, 'logs'),
    outLog: (name: string) => join(home, 'logs', `${name}.out.log`),
    errLog: (name: string) => join(home, 'logs', `${name}.err.log`),
    shimLog: (id: string) => join(home, 'logs', `shim-${id}.log`),
    locks: join(home, 'locks'),
    lockFile: (name: string) => join(home, 'locks', `${name}.lock`),
  };
}
export type HomeLayout = ReturnType<typeof homeLayout>;

/**
 * The built CLI entry (dist/cli/main.js): what pm2 runs and what client configs launch.
 * Resolved from the package root, so it names the build also when this module runs from src/.
 */
export const CLI_ENTRY: string = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
