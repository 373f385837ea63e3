/**
 * The environment a workspace's daemon is launched with, kept beside its token
 * (`tokens/<id>.env.json`, mode 0600) instead of in pm2's app env: pm2 lists app env in
 * `pm2 env`, `pm2 show` and `pm2 jlist`, and every start path (restart, the shim, the fleet
 * brought back, the ecosystem file, `pm2 resurrect`) would otherwise start the daemon with the
 * environment of whoever happened to start it (DESIGN.md "Environment", "Lifecycle").
 *
 * Recorded by an explicit `exai spawn` from the user's shell; read by the daemon at every start.
 */
import { createHmac } from 'node:crypto';
import { rmSync } from 'node:fs';
import { writeFileAtomic } from '../common/atomic-write.js';
import { ExaiError, errnoCode, homeWriteAdvice } from '../common/errors.js';
import { homeLayout } from './layout.js';
import { ENV_NAME, readStateText, type RegistryEntry } from './registry-file.js';
import { ensurePrivateDir } from './token.js';

/**
 * The variables every daemon gets from the shell that ran `exai spawn`: upstream servers need
 * a PATH, a HOME and a locale to start, and on Windows the system folders (WINDOWS.md #16:
 * browsers, LLVM and dotnet are found through %ProgramFiles%). Nothing else of the caller.
 */
export const BASE_ENV_NAMES: readonly string[] = [
  'PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LC_ALL', 'LC_CTYPE', 'TZ', 'TMPDIR', 'TMP', 'TEMP',
  'XDG_CONFIG_HOME', 'XDG_DATA_HOME', 'XDG_CACHE_HOME', 'XDG_RUNTIME_DIR', 'NODE_EXTRA_CA_CERTS',
  'SystemRoot', 'ComSpec', 'PATHEXT', 'APPDATA', 'LOCALAPPDATA', 'USERPROFILE', 'windir', 'SystemDrive',
  'ProgramFiles', 'ProgramFiles(x86)', 'ProgramW6432', 'ProgramData', 'CommonProgramFiles',
  'CommonProgramFiles(x86)', 'CommonProgramW6432', 'ALLUSERSPROFILE', 'PUBLIC', 'HOMEDRIVE', 'HOMEPATH',
  'USERNAME', 'USERDOMAIN', 'COMPUTERNAME', 'PROCESSOR_ARCHITECTURE', 'NUMBER_OF_PROCESSORS', 'OS', 'PSModulePath',
];

export interface LaunchEnv {
  version: 1;
  /** BASE_ENV_NAMES as the spawning shell had them. */
  base: Record<string, string>;
  /** The user's own variables (`--pass-env NAME`, `EXAI_PASS_ENV`), by name. */
  passed: Record<string, string>;
}

/** `EXAI_PASS_ENV=A,B` and `--pass-env` names, validated (USAGE names the bad one). */
export function parsePassEnvNames(list: readonly string[]): string[] {
  const names: string[] = [];
  for (const raw of list.flatMap((item) => item.split(','))) {
    const name = raw.trim();
    if (name === '') continue;
    if (!ENV_NAME.test(name)) {
      throw new ExaiError('USAGE', `${JSON.stringify(name)} is not a variable name to pass; use letters, digits and _ (e.g. --pass-env MY_API_KEY)`);
    }
    if (!names.includes(name)) names.push(name);
  }
  return names;
}

/**
 * The launch environment an explicit `exai spawn` records: BASE_ENV_NAMES from `callerEnv`,
 * and for each passed name the caller's value, else the value recorded before. A passed name
 * that has neither is ENV_INVALID (the upstream would silently get an empty string).
 */
export function captureLaunchEnv(callerEnv: NodeJS.ProcessEnv, passNames: readonly string[], previous: LaunchEnv | undefined): LaunchEnv {
  const base: Record<string, string> = {};
  for (const name of BASE_ENV_NAMES) {
    const value = callerEnv[name] ?? previous?.base[name];
    if (value !== undefined) base[name] = value;
  }
  const passed: Record<string, string> = {};
  for (const name of passNames) {
    const value = callerEnv[name] ?? previous?.passed[name];
    if (value === undefined) {
      throw new ExaiError('ENV_INVALID', `${name} is to be passed to the daemon but is not set in this shell; set it (export ${name}=…) and run exai spawn again, or leave it out of --pass-env/EXAI_PASS_ENV`);
    }
    passed[name] = value;
  }
  return { version: 1, base, passed };
}

/** The recorded launch environment; undefined when none was recorded (a workspace of an older exai). */
export function readLaunchEnv(home: string, id: string): LaunchEnv | undefined {
  const text = readStateText(homeLayout(home).envFile(id));
  if (text === undefined) return undefined;
  try {
    const value = JSON.parse(text) as Partial<LaunchEnv>;
    if (value.version !== 1 || !isStringMap(value.base) || !isStringMap(value.passed)) return undefined;
    return { version: 1, base: value.base, passed: value.passed };
  } catch {
    return undefined; // unreadable: the next explicit spawn records it afresh
  }
}

/** Writes the launch environment atomically, 0600, beside the token (HOME_NOT_WRITABLE on failure). */
export function writeLaunchEnv(home: string, id: string, env: LaunchEnv): void {
  const layout = homeLayout(home);
  if (JSON.stringify(readLaunchEnv(home, id)) === JSON.stringify(env)) return;
  ensurePrivateDir(home);
  ensurePrivateDir(layout.tokens);
  try {
    writeFileAtomic(layout.envFile(id), JSON.stringify(env, null, 2) + '\n', { mode: 0o600 });
  } catch (err) {
    throw new ExaiError('HOME_NOT_WRITABLE', `cannot write ${JSON.stringify(layout.envFile(id))} (${errnoCode(err) ?? String(err)}); ${homeWriteAdvice(err)}`, { cause: err });
  }
}

export function deleteLaunchEnv(home: string, id: string): void {
  rmSync(homeLayout(home).envFile(id), { force: true });
}

/** The variables the daemon sets on itself: the base ones, the passed ones over them. */
export function launchVariables(env: LaunchEnv): Record<string, string> {
  return { ...env.base, ...env.passed };
}

/**
 * A digest of what the daemon runs with (port, idle timeout, passed variables and their
 * values), keyed with the workspace token: /health shows it without a login, so a plain hash
 * of a short secret would invite guessing. A daemon whose digest differs from the registry's
 * was started with other inputs, and `exai spawn` restarts it (STYLE.md point 4).
 */
export function launchDigest(spec: Pick<RegistryEntry, 'port' | 'idleTimeoutMs'>, env: LaunchEnv | undefined, token: string, daemonFileText?: string): string {
  const passed = Object.entries(env?.passed ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  // A workspace's own daemon (.exai/daemon.json): its file is part of what it runs with.
  const own = daemonFileText === undefined ? {} : { daemonFile: daemonFileText };
  const input = JSON.stringify({ port: spec.port, idleTimeoutMs: spec.idleTimeoutMs ?? null, passed, ...own });
  return createHmac('sha256', token).update(input).digest('hex').slice(0, 16);
}

function isStringMap(value: unknown): value is Record<string, string> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.values(value).every((v) => typeof v === 'string');
}
