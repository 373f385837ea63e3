import { existsSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join, posix, win32 } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The built CLI entry (dist/cli/main.js): what pm2 runs and what client configs launch.
 * Resolved from the package root, so it names the build also when this module runs from src/.
 */
export const CLI_ENTRY: string = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

/**
 * The daemon's process entry, what pm2 runs (src/daemon/launcher.cts): the bundled daemon with
 * a V8 code cache; the same daemon as `exai daemon`. Resolved like CLI_ENTRY.
 */
export const DAEMON_ENTRY: string = fileURLToPath(new URL('../../dist/daemon/launcher.cjs', import.meta.url));

/** What pm2 runs for a workspace's own daemon (src/daemon/own-launcher.ts); resolved like CLI_ENTRY. */
export const OWN_DAEMON_LAUNCHER: string = fileURLToPath(new URL('../../dist/daemon/own-launcher.js', import.meta.url));

/** The pm2 launcher (src/start/pm2-launch.ts), built; resolved like CLI_ENTRY. */
export const PM2_LAUNCHER: string = fileURLToPath(new URL('../../dist/start/pm2-launch.js', import.meta.url));

export interface NodeExecutableInput {
  /** Default: the running platform. */
  platform?: NodeJS.Platform;
  /** Default: process.execPath. */
  execPath?: string;
  /** FNM_DIR, APPDATA, XDG_DATA_HOME; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Default: realpathSync.native. */
  realpath?: (path: string) => string;
  /** Default: existsSync. */
  exists?: (path: string) => boolean;
}

const FNM_LINKS = 'fnm_multishells';

/**
 * The node binary that client configs (`command`) and pm2 apps (`interpreter`) name: a path
 * that still exists after the shell exai ran in is gone. That is process.execPath everywhere
 * except under fnm, whose per-shell link `fnm_multishells/<pid>_<ms>/` (on Windows
 * `%LOCALAPPDATA%\fnm_multishells\<pid>_<ms>\node.exe`) fnm deletes later, leaving editors and
 * pm2 with a node that does not exist (WINDOWS.md #6; open-gsd/gsd-core#977). Such a path is
 * resolved to the installation it links to (the same Node version); if that fails, to fnm's
 * `aliases/default`; if that is missing too, it is returned as it is. On Linux execPath is
 * already resolved (/proc/self/exe), so this matters on Windows and macOS.
 */
export function nodeExecutable(input: NodeExecutableInput = {}): string {
  const platform = input.platform ?? process.platform;
  const execPath = input.execPath ?? process.execPath;
  const path = platform === 'win32' ? win32 : posix;
  const inFnmLinks = (p: string) => p.split(platform === 'win32' ? /[\\/]/ : '/').some((s) => s.toLowerCase() === FNM_LINKS);
  if (!inFnmLinks(execPath)) return execPath;
  try {
    const real = (input.realpath ?? realpathSync.native)(execPath);
    if (!inFnmLinks(real)) return real;
  } catch {
    // the link is gone already: fnm's default alias is the next best
  }
  const alias = path.join(fnmDir(platform, input.env ?? process.env), 'aliases', 'default', ...(platform === 'win32' ? ['node.exe'] : ['bin', 'node']));
  return (input.exists ?? existsSync)(alias) ? alias : execPath;
}

/** fnm's root: FNM_DIR (`fnm env` sets it), else the OS data dir + `fnm` (fnm's own default). */
function fnmDir(platform: NodeJS.Platform, env: NodeJS.ProcessEnv): string {
  if (env.FNM_DIR) return env.FNM_DIR;
  const path = platform === 'win32' ? win32 : posix;
  if (platform === 'win32') return path.join(env.APPDATA || path.join(homedir(), 'AppData', 'Roaming'), 'fnm');
  if (platform === 'darwin') return path.join(homedir(), 'Library', 'Application Support', 'fnm');
  return path.join(env.XDG_DATA_HOME || path.join(homedir(), '.local', 'share'), 'fnm');
}

/**
 * The pm2 that exai drives: the package exai depends on, wherever npm put it (nested in a
 * global install, hoisted in a project). `bin` is its CLI script (run it with process.execPath).
 */
export function installedPm2(): { version: string; bin: string } {
  const require = createRequire(import.meta.url);
  const pkgFile = require.resolve('pm2/package.json');
  const pkg = require(pkgFile) as { version: string; bin?: Record<string, string> };
  return { version: pkg.version, bin: join(dirname(pkgFile), pkg.bin?.pm2 ?? 'bin/pm2') };
}
