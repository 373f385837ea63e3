import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import * as nodeFs from 'node:fs';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { isFileContention, removeQuietly } from '../common/contention.js';
import { ExaiError, errnoCode, homeWriteAdvice } from '../common/errors.js';
import { homeLayout } from '../workspace/layout.js';
import { ensurePrivateDir } from '../workspace/token.js';
import { monotonicNow } from '../common/clock.js';

export interface LockOptions {
  /** How long to wait for the lock before LOCK_TIMEOUT. */
  timeoutMs?: number;
  /** A lock untouched for this long is abandoned, even if its pid is alive (pid reuse). */
  staleMs?: number;
  /** The file operations to use (tests inject Windows' errors); default node:fs. */
  fs?: LockFs;
  /** Whose error semantics apply (WINDOWS.md #13); default the running platform. */
  platform?: NodeJS.Platform;
}

/** The synchronous node:fs calls the lock makes. */
export type LockFs = Pick<
  typeof nodeFs,
  'openSync' | 'writeSync' | 'closeSync' | 'fstatSync' | 'readFileSync' | 'renameSync' | 'rmSync' | 'statSync' | 'linkSync' | 'utimesSync'
>;

/** The file system and the platform whose errors it speaks. */
interface Io {
  fs: LockFs;
  platform: NodeJS.Platform;
}

/** What a lock file holds. */
export interface LockInfo {
  pid: number;
  host: string;
  createdAt: string;
  token: string;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_STALE_MS = 60_000;
/** A lock file whose content is not (yet) readable is being written, unless it is older than this. */
const UNREADABLE_GRACE_MS = 2_000;
/** The takeover guard is held for microseconds; one older than this was left by a crash. */
const GUARD_STALE_MS = 10_000;

/** Lock files this async context holds, so a nested withLock on the same name does not deadlock. */
const heldByContext = new AsyncLocalStorage<ReadonlySet<string>>();
/** Tokens of the locks this process holds right now: a lock with our pid but another token is a dead predecessor's. */
const ownTokens = new Set<string>();

/**
 * Runs `fn` while holding the cross-process lock `EXAI_HOME/locks/<name>.lock`.
 *
 * The lock file is created exclusively ('wx') and holds {pid, host, createdAt, token}. It is
 * stale when its pid is dead (same host) or when it was neither created nor refreshed for
 * `staleMs`; the holder refreshes its mtime every staleMs/3, so a long `fn` is not mistaken
 * for an abandoned lock. Re-entrant within one async context; other contexts in this process
 * wait like other processes do.
 *
 * On Windows, EPERM/EBUSY/EACCES from creating, opening or renaming the lock mean a lock file
 * that its last holder deleted while someone still had it open, or that a scanner holds: they
 * are waited out like a held lock, until the deadline (WINDOWS.md #13). Errors: LOCK_TIMEOUT,
 * HOME_NOT_WRITABLE. Releasing never throws.
 */
export async function withLock<T>(home: string, name: string, fn: () => Promise<T> | T, opts: LockOptions = {}): Promise<T> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
    throw new Error(`invalid lock name ${JSON.stringify(name)}: use letters, digits, '.', '_' and '-'`);
  }
  const layout = homeLayout(home);
  const file = layout.lockFile(name);
  const held = heldByContext.getStore();
  if (held?.has(file)) return await fn();

  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const staleMs = opts.staleMs ?? DEFAULT_STALE_MS;
  ensurePrivateDir(home);
  ensurePrivateDir(layout.locks);

  const io: Io = { fs: opts.fs ?? nodeFs, platform: opts.platform ?? process.platform };
  const token = await acquire(io, file, timeoutMs, staleMs);
  const heartbeat = setInterval(() => refresh(io, file, token), Math.max(20, Math.floor(staleMs / 3)));
  heartbeat.unref();
  try {
    return await heldByContext.run(new Set([...(held ?? []), file]), fn);
  } finally {
    clearInterval(heartbeat);
    release(io, file, token);
  }
}

async function acquire(io: Io, file: string, timeoutMs: number, staleMs: number): Promise<string> {
  const token = randomBytes(16).toString('hex');
  const deadline = monotonicNow() + timeoutMs;
  let delay = 5;
  let lastSeen: Inspection | undefined;
  for (;;) {
    const created = tryCreate(io, file, token);
    if (created === true) return token;
    const seen = inspect(io, file, staleMs);
    // Gone: create again at once, unless Windows called the create busy (mid-delete): then wait, not spin.
    if (seen.state === 'gone' && created === false) continue;
    if (seen.state === 'stale' && takeOver(io, file, seen)) continue;
    lastSeen = seen;
    const remaining = deadline - monotonicNow();
    if (remaining <= 0) {
      // Windows' "file busy" for the whole wait is no longer contention: name the error.
      if (seen.state === 'busy') throw notWritable(file, seen.err);
      if (seen.state === 'gone' && created !== false) throw notWritable(file, created.err);
      throw timeoutError(file, timeoutMs, lastSeen);
    }
    // Jitter keeps contenders that woke together from colliding again on the next try.
    await sleep(Math.min(remaining, delay + Math.random() * delay));
    delay = Math.min(delay * 1.5, 200);
  }
}

/**
 * Exclusive create: true when this call made the lock file (with its full content), false when
 * it exists, `{ err }` when Windows said the file is busy (contention, not a verdict).
 */
function tryCreate({ fs, platform }: Io, file: string, token: string): true | false | { err: unknown } {
  const info: LockInfo = { pid: process.pid, host: hostname(), createdAt: new Date().toISOString(), token };
  let fd: number;
  try {
    fd = fs.openSync(file, 'wx', 0o600);
  } catch (err) {
    if (errnoCode(err) === 'EEXIST') return false;
    if (isFileContention(err, platform)) return { err };
    throw notWritable(file, err);
  }
  try {
    fs.writeSync(fd, JSON.stringify(info) + '\n');
    fs.closeSync(fd);
  } catch (err) {
    // A half-written lock would block everyone for UNREADABLE_GRACE_MS: take it back out.
    try {
      fs.closeSync(fd);
    } catch {
      // the write error is the one worth reporting
    }
    removeQuietly(file, fs.rmSync, platform);
    throw notWritable(file, err);
  }
  ownTokens.add(token);
  return true;
}

interface Seen {
  state: 'live' | 'stale';
  info: LockInfo | undefined;
  raw: string;
  ino: number;
  reason?: string;
}
/** `busy`: Windows would not let us read it just now (pending delete, a scanner): ask again later. */
type Inspection = { state: 'gone' } | { state: 'busy'; err: unknown } | Seen;

function inspect({ fs, platform }: Io, file: string, staleMs: number): Inspection {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return { state: 'gone' };
    if (isFileContention(err, platform)) return { state: 'busy', err };
    throw notWritable(file, err);
  }
  let raw: string;
  let ino: number;
  let mtimeMs: number;
  try {
    // One descriptor for stat and content: both describe the same file even if it is replaced meanwhile.
    const st = fs.fstatSync(fd);
    ino = st.ino;
    mtimeMs = st.mtimeMs;
    raw = fs.readFileSync(fd, 'utf8');
  } catch (err) {
    if (isFileContention(err, platform)) return { state: 'busy', err };
    throw err;
  } finally {
    fs.closeSync(fd);
  }
  const info = parseLockInfo(raw);
  const now = Date.now();
  if (info === undefined) {
    const stale = now - mtimeMs > Math.min(staleMs, UNREADABLE_GRACE_MS);
    return { state: stale ? 'stale' : 'live', info, raw, ino, reason: 'unreadable content' };
  }
  if (info.host === hostname()) {
    if (info.pid === process.pid) {
      if (!ownTokens.has(info.token)) return { state: 'stale', info, raw, ino, reason: 'left by an earlier process with this pid' };
    } else if (!pidAlive(info.pid)) {
      return { state: 'stale', info, raw, ino, reason: `pid ${info.pid} is gone` };
    }
  }
  const createdMs = Date.parse(info.createdAt);
  const touchedMs = Math.max(Number.isNaN(createdMs) ? 0 : createdMs, mtimeMs);
  if (now - touchedMs > staleMs) return { state: 'stale', info, raw, ino, reason: `untouched for ${Math.round((now - touchedMs) / 1000)} s` };
  return { state: 'live', info, raw, ino };
}

function parseLockInfo(raw: string): LockInfo | undefined {
  try {
    const value: unknown = JSON.parse(raw);
    if (!value || typeof value !== 'object') return undefined;
    const v = value as Record<string, unknown>;
    if (typeof v.pid !== 'number' || !Number.isInteger(v.pid) || v.pid <= 0) return undefined;
    if (typeof v.host !== 'string' || typeof v.createdAt !== 'string' || typeof v.token !== 'string') return undefined;
    return { pid: v.pid, host: v.host, createdAt: v.createdAt, token: v.token };
  } catch {
    return undefined;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return errnoCode(err) === 'EPERM';
  }
}

/**
 * Removes a stale lock so that exactly one contender does it, and only to the very file that
 * was judged stale. Contenders serialize on a tiny guard file; under it the lock is renamed
 * aside (atomic), and if what was moved is not the judged file after all (its owner released
 * it and a new holder created one in between), it is linked back.
 * True when the caller should retry creating the lock at once.
 */
function takeOver(io: Io, file: string, judged: Seen): boolean {
  const { fs, platform } = io;
  const guard = `${file}.takeover`;
  let guardFd: number;
  try {
    guardFd = fs.openSync(guard, 'wx', 0o600);
  } catch (err) {
    if (errnoCode(err) === 'EEXIST') clearAbandonedGuard(io, guard);
    return false;
  }
  try {
    fs.writeSync(guardFd, `${process.pid}\n`);
    const aside = `${file}.${randomBytes(4).toString('hex')}.stale`;
    try {
      fs.renameSync(file, aside);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return true;
      if (isFileContention(err, platform)) return false;
      throw notWritable(file, err);
    }
    let moved: { raw: string; ino: number } | undefined;
    try {
      moved = { raw: fs.readFileSync(aside, 'utf8'), ino: fs.statSync(aside).ino };
    } catch {
      moved = undefined;
    }
    if (moved === undefined || moved.raw !== judged.raw || moved.ino !== judged.ino) {
      try {
        fs.linkSync(aside, file);
      } catch {
        // Someone created a new lock meanwhile: theirs stands, the moved one's holder will find it gone.
      }
      removeQuietly(aside, fs.rmSync, platform);
      return false;
    }
    removeQuietly(aside, fs.rmSync, platform);
    return true;
  } finally {
    try {
      fs.closeSync(guardFd);
    } catch {
      // nothing to do; the guard is removed below or cleared later as abandoned
    }
    removeQuietly(guard, fs.rmSync, platform);
  }
}

function clearAbandonedGuard({ fs, platform }: Io, guard: string): void {
  try {
    const st = fs.statSync(guard);
    const pid = Number.parseInt(fs.readFileSync(guard, 'utf8'), 10);
    const deadPid = Number.isInteger(pid) && pid > 0 && pid !== process.pid && !pidAlive(pid);
    if (deadPid || Date.now() - st.mtimeMs > GUARD_STALE_MS) removeQuietly(guard, fs.rmSync, platform);
  } catch {
    // gone already, or unreadable for a moment while its owner writes it
  }
}

function readOwnToken({ fs }: Io, file: string): string | undefined {
  try {
    return parseLockInfo(fs.readFileSync(file, 'utf8'))?.token;
  } catch {
    return undefined;
  }
}

function refresh(io: Io, file: string, token: string): void {
  if (readOwnToken(io, file) !== token) return;
  try {
    const now = new Date();
    io.fs.utimesSync(file, now, now);
  } catch {
    // a missed heartbeat only matters after staleMs; the next one may succeed
  }
}

/**
 * Only the owner deletes its lock: a lock taken over meanwhile belongs to someone else. Never
 * throws: it runs in a `finally`, where an error would replace the result of work that is done;
 * a lock file left behind is stale once its pid is gone.
 */
function release(io: Io, file: string, token: string): void {
  ownTokens.delete(token);
  if (readOwnToken(io, file) === token) removeQuietly(file, io.fs.rmSync, io.platform);
}

function timeoutError(file: string, timeoutMs: number, seen: Inspection | undefined): ExaiError {
  const holder =
    (seen?.state === 'live' || seen?.state === 'stale') && seen.info
      ? ` (held by pid ${seen.info.pid} on ${seen.info.host} since ${seen.info.createdAt})`
      : '';
  return new ExaiError(
    'LOCK_TIMEOUT',
    `timed out after ${formatSeconds(timeoutMs)} waiting for the lock ${file}${holder}; if no exai command is running, delete that file and try again`,
  );
}

function notWritable(file: string, err: unknown): ExaiError {
  return new ExaiError(
    'HOME_NOT_WRITABLE',
    `cannot use the lock file ${JSON.stringify(file)} (${errnoCode(err) ?? String(err)}); ${homeWriteAdvice(err)}`,
    { cause: err },
  );
}

function formatSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
}
