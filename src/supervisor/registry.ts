import { readFileSync } from 'node:fs';
import type Conf from 'conf';
import { writeFileAtomic } from '../common/atomic-write.js';
import { ExaiError, errnoCode, errorMessage } from '../common/errors.js';
import { homeLayout } from '../workspace/layout.js';
import { withLock, type LockOptions } from './lock.js';
import { ensurePrivateDir } from '../workspace/token.js';

export type ClientKind = 'vscode' | 'claude' | 'cursor';
export const CLIENT_KINDS: readonly ClientKind[] = ['vscode', 'claude', 'cursor'];

export interface RegistryEntry {
  /** Canonical path. */
  workspace: string;
  id: string;
  name: string;
  port: number;
  /** The port was given with --port. */
  pinned: boolean;
  /** Client configs exai wrote for this workspace. */
  clients: ClientKind[];
  /** Stopped on purpose (`exai stop`): not brought back when a new pm2 daemon starts. */
  stopped?: boolean;
  createdAt: string;
  updatedAt: string;
}

/** A type alias (not an interface) so it satisfies conf's `Record<string, unknown>` bound. */
export type RegistryData = { version: 1; workspaces: Record<string, RegistryEntry> };

/**
 * The shape check, by hand: zod would add ~50 ms to every CLI and shim start for ten fields.
 * Loose objects: fields a newer exai adds to an entry survive a rewrite by this one.
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
    if (entry.id !== key) return `${at}.id: does not match its key ${key}`;
  }
  return undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function emptyRegistry(): RegistryData {
  return { version: 1, workspaces: {} };
}

function serialize(data: RegistryData): string {
  return JSON.stringify(data, null, 2) + '\n';
}

type Parsed = { ok: true; data: RegistryData } | { ok: false; problem: string };

function parseRegistry(text: string): Parsed {
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

/**
 * The per-user registry (EXAI_HOME/registry.json): workspace id -> port, pm2 name, clients.
 *
 * Written through `conf` (atomic temp + rename, mode 0600). conf has no cross-process
 * locking, so every read-modify-write goes through update(), which holds the 'registry' lock.
 * A registry that cannot be parsed is reported, never reset: conf is only ever asked to write.
 */
export class Registry {
  readonly file: string;
  readonly backupFile: string;
  #conf: Conf<RegistryData> | undefined;

  constructor(
    readonly home: string,
    private readonly lockOptions: LockOptions = {},
  ) {
    const layout = homeLayout(home);
    this.file = layout.registry;
    this.backupFile = layout.registryBackup;
  }

  /** The registry as it is on disk now (no lock: a snapshot). A missing file is an empty registry. */
  read(): RegistryData {
    const text = this.readText(this.file);
    if (text === undefined) return emptyRegistry();
    const parsed = parseRegistry(text);
    if (!parsed.ok) {
      throw new ExaiError(
        'REGISTRY_CORRUPT',
        `the registry ${this.file} is unreadable (${parsed.problem}); run \`exai doctor --fix\` to rebuild it from ${this.backupFile} and pm2`,
      );
    }
    return parsed.data;
  }

  get(id: string): RegistryEntry | undefined {
    return this.read().workspaces[id];
  }

  /**
   * Read-modify-write under the registry lock: `fn` mutates `data`; what it leaves is written
   * atomically and then copied to the backup. If `fn` throws, nothing is written.
   */
  update<T>(fn: (data: RegistryData) => T | Promise<T>): Promise<T> {
    return withLock(
      this.home,
      'registry',
      async () => {
        const data = this.read();
        const before = serialize(data);
        const result = await fn(data);
        // Most updates of a healthy fleet change nothing: skip the write (and the fsync).
        if (serialize(data) !== before) await this.write(data);
        return result;
      },
      this.lockOptions,
    );
  }

  /** The last registry that was written successfully, if the backup is there and sound (for doctor). */
  readBackup(): RegistryData | undefined {
    let text: string | undefined;
    try {
      text = this.readText(this.backupFile);
    } catch {
      return undefined;
    }
    if (text === undefined) return undefined;
    const parsed = parseRegistry(text);
    return parsed.ok ? parsed.data : undefined;
  }

  /** Replaces the registry (and its backup) with `data`, under the lock (for doctor --fix). */
  restore(data: RegistryData): Promise<void> {
    return withLock(this.home, 'registry', () => this.write(data), this.lockOptions);
  }

  private readText(file: string): string | undefined {
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

  private async write(data: RegistryData): Promise<void> {
    const checked = parseRegistry(JSON.stringify(data));
    if (!checked.ok) {
      // A caller bug, not a disk problem: refuse to persist a registry that read() would reject.
      throw new ExaiError('REGISTRY_WRITE_FAILED', `refusing to write an invalid registry (${checked.problem}); this is a bug in exai, please report it`);
    }
    ensurePrivateDir(this.home);
    const conf = await this.conf();
    try {
      conf.store = data;
    } catch (err) {
      throw writeError(this.file, err);
    }
    try {
      writeFileAtomic(this.backupFile, serialize(data), { mode: 0o600 });
    } catch {
      // The registry itself is written; a stale backup only makes `doctor --fix` less complete.
    }
  }

  private async conf(): Promise<Conf<RegistryData>> {
    // Created lazily, after EXAI_HOME exists with mode 0700 (conf would create it 0777 & umask),
    // and loaded only by writers: readers such as the shim start faster without it.
    const { default: ConfClass } = await import('conf');
    this.#conf ??= new ConfClass<RegistryData>({
      cwd: this.home,
      configName: 'registry',
      fileExtension: 'json',
      configFileMode: 0o600,
      clearInvalidConfig: false,
      accessPropertiesByDotNotation: false,
      watch: false,
      serialize,
      // conf parses the file only on its own construction and before each write (to carry its
      // internal keys over); read() does the real, strict parsing. Tolerating garbage here
      // keeps conf from throwing on, or ever resetting, a registry that doctor must see.
      deserialize: (text: string) => {
        const parsed = parseRegistry(text);
        return parsed.ok ? parsed.data : emptyRegistry();
      },
    });
    return this.#conf;
  }
}

function writeError(file: string, err: unknown): ExaiError {
  const code = errnoCode(err);
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS' || code === 'ENOTDIR') {
    return new ExaiError(
      'HOME_NOT_WRITABLE',
      `cannot write the registry ${file} (${code}); make EXAI_HOME writable or point EXAI_HOME elsewhere`,
      { cause: err },
    );
  }
  return new ExaiError(
    'REGISTRY_WRITE_FAILED',
    `could not write the registry ${file} (${code ?? errorMessage(err)}); it is unchanged — free disk space and run the command again`,
    { cause: err },
  );
}
