import type Conf from 'conf';
import { writeFileAtomic } from '../common/atomic-write.js';
import { ExaiError, errnoCode, errorMessage } from '../common/errors.js';
import { homeLayout } from '../workspace/layout.js';
import {
  emptyRegistry,
  parseRegistry,
  readRegistry,
  readStateText,
  serializeRegistry as serialize,
  type RegistryData,
  type RegistryEntry,
} from '../workspace/registry-file.js';
import { ensurePrivateDir } from '../workspace/token.js';
import { withLock, type LockOptions } from './lock.js';

export { CLIENT_KINDS, type ClientKind, type RegistryData, type RegistryEntry } from '../workspace/registry-file.js';

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
    return readRegistry(this.home);
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
      text = readStateText(this.backupFile);
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
