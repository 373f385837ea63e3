import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fstatSync,
  linkSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { ExaiError, errnoCode, homeWriteAdvice } from '../common/errors.js';
import { homeLayout } from '../workspace/layout.js';
import { ensurePrivateDir } from '../workspace/token.js';

export interface LockOptions {
  /** How long to wait for the lock before LOCK_TIMEOUT. */
  timeoutMs?: number;
  /** A lock untouched for this long is abandoned, even if its pid is alive (pid reuse). */
  staleMs?: number;
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

  const token = await acquire(file, timeoutMs, staleMs);
  const heartbeat = setInterval(() => refresh(file, token), Math.max(20, Math.floor(staleMs / 3)));
  heartbeat.unref();
  try {
    return await heldByContext.run(new Set([...(held ?? []), file]), fn);
  } finally {
    clearInterval(heartbeat);
    release(file, token);
  }
}

async function acquire(file: string, timeoutMs: number, staleMs: number): Promise<string> {
  const token = randomBytes(16).toString('hex');
  const deadline = Date.now() + timeoutMs;
  let delay = 5;
  let lastSeen: Inspection | undefined;
  for (;;) {
    if (tryCreate(file, token)) return token;
    const seen = inspect(file, staleMs);
    if (seen.state === 'gone') continue;
    if (seen.state === 'stale' && takeOver(file, seen)) continue;
    lastSeen = seen;
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw timeoutError(file, timeoutMs, lastSeen);
    // Jitter keeps contenders that woke together from colliding again on the next try.
    await sleep(Math.min(remaining, delay + Math.random() * delay));
    delay = Math.min(delay * 1.5, 200);
  }
}

/** Exclusive create; true when this call made the lock file (with its full content). */
function tryCreate(file: string, token: string): boolean {
  const info: LockInfo = { pid: process.pid, host: hostname(), createdAt: new Date().toISOString(), token };
  let fd: number;
  try {
    fd = openSync(file, 'wx', 0o600);
  } catch (err) {
    if (errnoCode(err) === 'EEXIST') return false;
    throw notWritable(file, err);
  }
  try {
    writeSync(fd, JSON.stringify(info) + '\n');
    closeSync(fd);
  } catch (err) {
    // A half-written lock would block everyone for UNREADABLE_GRACE_MS: take it back out.
    try {
      closeSync(fd);
    } catch {
      // the write error is the one worth reporting
    }
    rmSync(file, { force: true });
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
type Inspection = { state: 'gone' } | Seen;

function inspect(file: string, staleMs: number): Inspection {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return { state: 'gone' };
    throw notWritable(file, err);
  }
  let raw: string;
  let ino: number;
  let mtimeMs: number;
  try {
    // One descriptor for stat and content: both describe the same file even if it is replaced meanwhile.
    const st = fstatSync(fd);
    ino = st.ino;
    mtimeMs = st.mtimeMs;
    raw = readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
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
function takeOver(file: string, judged: Seen): boolean {
  const guard = `${file}.takeover`;
  let guardFd: number;
  try {
    guardFd = openSync(guard, 'wx', 0o600);
  } catch (err) {
    if (errnoCode(err) === 'EEXIST') clearAbandonedGuard(guard);
    return false;
  }
  try {
    writeSync(guardFd, `${process.pid}\n`);
    const aside = `${file}.${randomBytes(4).toString('hex')}.stale`;
    try {
      renameSync(file, aside);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return true;
      throw notWritable(file, err);
    }
    let moved: { raw: string; ino: number } | undefined;
    try {
      moved = { raw: readFileSync(aside, 'utf8'), ino: statSync(aside).ino };
    } catch {
      moved = undefined;
    }
    if (moved === undefined || moved.raw !== judged.raw || moved.ino !== judged.ino) {
      try {
        linkSync(aside, file);
      } catch {
        // Someone created a new lock meanwhile: theirs stands, the moved one's holder will find it gone.
      }
      rmSync(aside, { force: true });
      return false;
    }
    rmSync(aside, { force: true });
    return true;
  } finally {
    closeSync(guardFd);
    rmSync(guard, { force: true });
  }
}

function clearAbandonedGuard(guard: string): void {
  try {
    const st = statSync(guard);
    const pid = Number.parseInt(readFileSync(guard, 'utf8'), 10);
    const deadPid = Number.isInteger(pid) && pid > 0 && pid !== process.pid && !pidAlive(pid);
    if (deadPid || Date.now() - st.mtimeMs > GUARD_STALE_MS) rmSync(guard, { force: true });
  } catch {
    // gone already, or unreadable for a moment while its owner writes it
  }
}

function readOwnToken(file: string): string | undefined {
  try {
    return parseLockInfo(readFileSync(file, 'utf8'))?.token;
  } catch {
    return undefined;
  }
}

function refresh(file: string, token: string): void {
  if (readOwnToken(file) !== token) return;
  try {
    const now = new Date();
    utimesSync(file, now, now);
  } catch {
    // a missed heartbeat only matters after staleMs; the next one may succeed
  }
}

/** Only the owner deletes its lock: a lock taken over meanwhile belongs to someone else. */
function release(file: string, token: string): void {
  ownTokens.delete(token);
  if (readOwnToken(file) === token) rmSync(file, { force: true });
}

function timeoutError(file: string, timeoutMs: number, seen: Inspection | undefined): ExaiError {
  const holder =
    seen && seen.state !== 'gone' && seen.info
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
