/**
 * The registry file (EXAI_HOME/registry.json) as every process reads it: its types, its
 * shape check and a lock-free snapshot read. Writing (locks, conf, backups) is the
 * supervisor's (src/supervisor/registry.ts); the daemon and the shim only ever read.
 */
import { readFileSync } from 'node:fs';
import { ExaiError, errnoCode, errorMessage } from '../common/errors.js';
import { homeLayout } from './layout.js';

export type ClientKind = 'vscode' | 'claude' | 'cursor' | 'gemini' | 'codex';
export const CLIENT_KINDS: readonly ClientKind[] = ['vscode', 'claude', 'cursor', 'gemini', 'codex'];

/** 30 minutes: the daemon's idle timeout when the launch spec names none (DESIGN.md "Lifecycle"). */
export const DEFAULT_IDLE_TIMEOUT_MS = 30 * 60_000;

/**
 * One workspace's entry, which is also its launch spec (DESIGN.md "Lifecycle"): every path
 * that starts its daemon (spawn, restart, the shim, the fleet brought back, the ecosystem
 * file, pm2 resurrect) builds the same pm2 app from it, and the daemon reads it at start.
 */
export interface RegistryEntry {
  /** Canonical path. */
  workspace: string;
  id: string;
  /** pm2 app name (src/workspace/identity.ts `appName`). */
  name: string;
  port: number;
  /** The port was given with --port. */
  pinned: boolean;
  /**
   * The client configs of the launch spec: every start (re)writes each one that is missing or
   * names another port, and no path writes any other. Recorded when a start reserves its port,
   * before the files are written, so the next start finishes what an interrupted one left.
   */
  clients: ClientKind[];
  /**
   * What exai created in the workspace when writing client configs (files and folders, relative,
   * '/'-separated, never the workspace itself): the only things `remove` may delete. Absent on an
   * entry an older exai wrote: `remove` then deletes only a file holding exactly exai's entry.
   */
  created?: string[];
  /** The registered workspace whose client configs this folder held when first spawned (it was moved or renamed). */
  movedFrom?: string;
  /** Stopped on purpose (`exai stop`): bulk start paths leave it down, the daemon refuses to run. */
  stopped?: boolean;
  /** Idle timeout in ms, 0 = never; absent = DEFAULT_IDLE_TIMEOUT_MS. */
  idleTimeoutMs?: number;
  /** Names of the user's variables handed to the daemon (values in `tokens/<id>.env.json`). */
  passEnv?: string[];
  /**
   * The workspace runs its own daemon (.exai/daemon.json) through the exai launcher; `spec` is
   * its launch digest, shown in its pm2 env so a reuse can tell it was started with this spec.
   */
  ownDaemon?: { spec: string };
  createdAt: string;
  updatedAt: string;
}

/** A type alias (not an interface) so it satisfies conf's `Record<string, unknown>` bound. */
export type RegistryData = { version: 1; workspaces: Record<string, RegistryEntry> };

export function emptyRegistry(): RegistryData {
  return { version: 1, workspaces: {} };
}

export function serializeRegistry(data: RegistryData): string {
  return JSON.stringify(data, null, 2) + '\n';
}

/** A variable name exai passes on: POSIX-style, plus `()` for Windows' `ProgramFiles(x86)`. */
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_()]*$/;

/**
 * The shape check, by hand: zod would add ~50 ms to every CLI and shim start for a dozen
 * fields. Loose objects: fields a newer exai adds to an entry survive a rewrite by this one.
 * Returns where the first problem is, or undefined when the value is a sound registry.
 */
function shapeProblem(value: unknown): string | undefined {
  if (!isObject(value)) return 'top level: expected an object';
  if (value.version !== 1) return 'version: expected 1';
  if (!isObject(value.workspaces)) return 'workspaces: expected an object';
  for (const [key, entry] of Object.entries(value.workspaces)) {
    const at = `workspaces.${key}`;
    if (!isObject(entry)) return `${at}: expected an object`;
    for (const field of ['workspace', 'id', 'name', 'createdAt', 'updatedAt'] as const) {
      const v = entry[field];
      if (typeof v !== 'string' || (v === '' && field !== 'createdAt' && field !== 'updatedAt')) return `${at}.${field}: expected a non-empty string`;
    }
    const port = entry.port;
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65_535) return `${at}.port: expected an integer from 1 to 65535`;
    if (typeof entry.pinned !== 'boolean') return `${at}.pinned: expected true or false`;
    if (!Array.isArray(entry.clients) || !entry.clients.every((c) => (CLIENT_KINDS as readonly unknown[]).includes(c))) {
      return `${at}.clients: expected a list of ${CLIENT_KINDS.join(', ')}`;
    }
    if (entry.stopped !== undefined && typeof entry.stopped !== 'boolean') return `${at}.stopped: expected true or false`;
    const idle = entry.idleTimeoutMs;
    if (idle !== undefined && (typeof idle !== 'number' || !Number.isSafeInteger(idle) || idle < 0)) return `${at}.idleTimeoutMs: expected a whole number of ms (0 = never)`;
    const pass = entry.passEnv;
    if (pass !== undefined && (!Array.isArray(pass) || !pass.every((n) => typeof n === 'string' && ENV_NAME.test(n)))) return `${at}.passEnv: expected a list of variable names`;
    const created = entry.created;
    if (created !== undefined && (!Array.isArray(created) || !created.every(isRecordedPath))) return `${at}.created: expected a list of paths inside the workspace`;
    if (entry.movedFrom !== undefined && typeof entry.movedFrom !== 'string') return `${at}.movedFrom: expected a string`;
    if (entry.id !== key) return `${at}.id: does not match its key ${key}`;
  }
  return undefined;
}

/** A path `created` may hold: relative, '/'-separated, below the workspace (no '..', never the workspace). */
function isRecordedPath(value: unknown): boolean {
  if (typeof value !== 'string' || value === '' || value.startsWith('/') || /^[A-Za-z]:/.test(value)) return false;
  return value.split('/').every((s) => s !== '' && s !== '.' && s !== '..' && !s.includes('\\'));
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export type ParsedRegistry = { ok: true; data: RegistryData } | { ok: false; problem: string };

export function parseRegistry(text: string): ParsedRegistry {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, problem: `not JSON: ${errorMessage(err)}` };
  }
  if (value && typeof value === 'object' && 'version' in value && typeof value.version === 'number' && value.version > 1) {
    return { ok: false, problem: `format version ${value.version} is newer than this exai understands (upgrade exai)` };
  }
  const problem = shapeProblem(value);
  if (problem) return { ok: false, problem: `bad shape at ${problem}` };
  return { ok: true, data: value as RegistryData };
}

/** A file's text, or undefined when it does not exist; HOME_NOT_WRITABLE when it cannot be read. */
export function readStateText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw new ExaiError(
      'HOME_NOT_WRITABLE',
      `cannot read ${JSON.stringify(file)} (${errnoCode(err) ?? errorMessage(err)}); check the permissions of EXAI_HOME`,
      { cause: err },
    );
  }
}

/**
 * The registry as it is on disk now (no lock: a snapshot). A missing file is an empty
 * registry; an unparsable one is REGISTRY_CORRUPT (never reset: `exai doctor --fix` rebuilds it).
 */
export function readRegistry(home: string): RegistryData {
  const layout = homeLayout(home);
  const text = readStateText(layout.registry);
  if (text === undefined) return emptyRegistry();
  const parsed = parseRegistry(text);
  if (!parsed.ok) {
    throw new ExaiError(
      'REGISTRY_CORRUPT',
      `the registry ${layout.registry} is unreadable (${parsed.problem}); run \`exai doctor --fix\` to rebuild it from ${layout.registryBackup} and pm2`,
    );
  }
  return parsed.data;
}
