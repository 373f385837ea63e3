/**
 * WINDOWS.md #13 and #24: Windows answers EPERM/EBUSY/EACCES where POSIX says EEXIST/ENOENT
 * (a lock or token file pending delete, a scanner holding it), and refuses to rename over a
 * read-only file. Real files in a temp EXAI_HOME; the Windows errors are injected into the
 * node:fs calls the code makes (an fs that throws EPERM), with `platform: 'win32'`.
 */
import * as fs from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../src/common/atomic-write.js';
import { isExaiError } from '../../src/common/errors.js';
import { withLock, type LockFs } from '../../src/supervisor/lock.js';
import { ensureToken, type TokenFs } from '../../src/workspace/token.js';

let dir: string;
let seq = 0;
beforeAll(() => {
  dir = fs.realpathSync(fs.mkdtempSync(join(tmpdir(), 'exai-win-contention-')));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A fresh EXAI_HOME per test. */
function home(): string {
  const h = join(dir, `home${++seq}`);
  fs.mkdirSync(join(h, 'locks'), { recursive: true });
  return h;
}

function winError(code: 'EPERM' | 'EBUSY' | 'EACCES', syscall: string, path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: operation not permitted, ${syscall} '${path}'`), { code, syscall, path });
}

/**
 * The real fs, except that the first `times` calls of `method` whose path matches `on` throw
 * Windows' `code`; `count()` says how many did.
 */
function failing<K extends keyof LockFs & keyof typeof fs>(method: K, code: 'EPERM' | 'EBUSY' | 'EACCES', times: number, on: (path: string, args: unknown[]) => boolean) {
  let thrown = 0;
  const real = fs[method] as (...args: unknown[]) => unknown;
  const wrapped = (...args: unknown[]) => {
    if (thrown < times && on(String(args[0]), args)) {
      thrown++;
      throw winError(code, method.replace(/Sync$/, ''), String(args[0]));
    }
    return real(...args);
  };
  const io = { ...fs, [method]: wrapped } as LockFs & TokenFs;
  return { fs: io, count: () => thrown };
}

const lockOf = (h: string, name: string) => join(h, 'locks', `${name}.lock`);

describe('the lock waits out Windows file contention (WINDOWS.md #13)', () => {
  it('EPERM from the exclusive create (a lock file pending delete) is retried until the create succeeds', async () => {
    const h = home();
    const f = failing('openSync', 'EPERM', 3, (p, args) => p === lockOf(h, 'spawn') && args[1] === 'wx');
    const value = await withLock(h, 'spawn', () => 'done', { fs: f.fs, platform: 'win32', timeoutMs: 10_000 });
    expect(value).toBe('done');
    expect(f.count()).toBe(3);
    expect(fs.existsSync(lockOf(h, 'spawn'))).toBe(false);
  });

  it('the same EPERM on Linux is a real permission problem: HOME_NOT_WRITABLE at once', async () => {
    const h = home();
    const f = failing('openSync', 'EPERM', 1, (p, args) => p === lockOf(h, 'spawn') && args[1] === 'wx');
    const err: unknown = await withLock(h, 'spawn', () => 'done', { fs: f.fs, platform: 'linux' }).catch((e: unknown) => e);
    expect(isExaiError(err, 'HOME_NOT_WRITABLE')).toBe(true);
    expect((err as Error).message).toContain('EPERM');
  });

  it('EBUSY while reading a dead holder\'s lock is waited out, then the stale lock is taken over', async () => {
    const h = home();
    // A lock left by a process that no longer exists (a pid above Linux's pid_max).
    fs.writeFileSync(lockOf(h, 'registry'), JSON.stringify({ pid: 2 ** 30, host: hostname(), createdAt: new Date().toISOString(), token: 'gone' }));
    const f = failing('openSync', 'EBUSY', 2, (p, args) => p === lockOf(h, 'registry') && args[1] === 'r');
    expect(await withLock(h, 'registry', () => 42, { fs: f.fs, platform: 'win32', timeoutMs: 10_000 })).toBe(42);
    expect(f.count()).toBe(2);
  });

  it('EACCES from renaming a stale lock aside is retried, not fatal', async () => {
    const h = home();
    fs.writeFileSync(lockOf(h, 'pm2-connect'), JSON.stringify({ pid: 2 ** 30, host: hostname(), createdAt: new Date().toISOString(), token: 'gone' }));
    const f = failing('renameSync', 'EACCES', 2, (p) => p === lockOf(h, 'pm2-connect'));
    expect(await withLock(h, 'pm2-connect', () => 'ok', { fs: f.fs, platform: 'win32', timeoutMs: 10_000 })).toBe('ok');
    expect(f.count()).toBe(2);
  });

  it('a lock file that stays busy past the deadline ends in HOME_NOT_WRITABLE naming the error, not a raw exception', async () => {
    const h = home();
    const f = failing('openSync', 'EPERM', Number.POSITIVE_INFINITY, (p) => p === lockOf(h, 'spawn'));
    const err: unknown = await withLock(h, 'spawn', () => 'never', { fs: f.fs, platform: 'win32', timeoutMs: 300 }).catch((e: unknown) => e);
    expect(isExaiError(err, 'HOME_NOT_WRITABLE')).toBe(true);
    expect((err as Error).message).toMatch(/EPERM.*EXAI_HOME/);
    expect(f.count()).toBeGreaterThan(1);
  });

  it('release never throws: a delete refused with EPERM leaves the result of the work intact, and the next lock takes the leftover over', async () => {
    const h = home();
    const f = failing('rmSync', 'EPERM', Number.POSITIVE_INFINITY, (p) => p === lockOf(h, 'spawn'));
    expect(await withLock(h, 'spawn', () => 'spawned', { fs: f.fs, platform: 'win32' })).toBe('spawned');
    expect(f.count()).toBeGreaterThan(1); // retried before giving up
    expect(fs.existsSync(lockOf(h, 'spawn'))).toBe(true);
    // The leftover carries this pid with a token no holder owns any more: stale at once.
    expect(await withLock(h, 'spawn', () => 'again', { timeoutMs: 5_000 })).toBe('again');
  });
});

describe('token creation waits out Windows file contention (WINDOWS.md #13)', () => {
  it('EPERM from the hard link into place is retried; the token returned is the one on disk', () => {
    const h = home();
    const f = failing('linkSync', 'EPERM', 2, () => true);
    const token = ensureToken(h, 'abcd1234', { fs: f.fs, platform: 'win32' });
    expect(f.count()).toBe(2);
    expect(token).toMatch(/^[0-9a-f]{64}$/);
    expect(fs.readFileSync(join(h, 'tokens', 'abcd1234.token'), 'utf8').trim()).toBe(token);
    expect(fs.readdirSync(join(h, 'tokens'))).toEqual(['abcd1234.token']);
  });

  it('on Linux the same EPERM stays a clear HOME_NOT_WRITABLE', () => {
    const h = home();
    const f = failing('linkSync', 'EPERM', 1, () => true);
    expect(() => ensureToken(h, 'abcd1234', { fs: f.fs, platform: 'linux' })).toThrow(/cannot write the token file.*EPERM/);
  });

  it('a temp file that cannot be deleted (EBUSY) does not hide the token that was made', () => {
    const h = home();
    const f = failing('rmSync', 'EBUSY', Number.POSITIVE_INFINITY, (p) => p.endsWith('.tmp'));
    const token = ensureToken(h, 'beef0001', { fs: f.fs, platform: 'win32' });
    expect(token).toBe(fs.readFileSync(join(h, 'tokens', 'beef0001.token'), 'utf8').trim());
    expect(f.count()).toBeGreaterThan(1);
  });
});

describe('a read-only target fails fast on Windows (WINDOWS.md #24)', () => {
  it('a read-only mcp.json (a Perforce/TFVC file not checked out) is refused with "read-only", untouched, no temp file left', () => {
    const d = join(dir, `ro${++seq}`);
    fs.mkdirSync(d);
    const file = join(d, 'mcp.json');
    fs.writeFileSync(file, '{"servers":{}}\n');
    fs.chmodSync(file, 0o444);
    expect(() => writeFileAtomic(file, '{"servers":{"exai":{}}}\n', { platform: 'win32' })).toThrow('read-only, not checked out?');
    expect(fs.readFileSync(file, 'utf8')).toBe('{"servers":{}}\n');
    expect(fs.readdirSync(d)).toEqual(['mcp.json']);
  });

  it('on Linux rename replaces a read-only file as before, and a writable file is written on Windows too', () => {
    const d = join(dir, `ro${++seq}`);
    fs.mkdirSync(d);
    const ro = join(d, 'ro.json');
    fs.writeFileSync(ro, 'old');
    fs.chmodSync(ro, 0o444);
    writeFileAtomic(ro, 'new', { platform: 'linux' });
    expect(fs.readFileSync(ro, 'utf8')).toBe('new');
    const rw = join(d, 'rw.json');
    fs.writeFileSync(rw, 'old');
    writeFileAtomic(rw, 'new', { platform: 'win32' });
    expect(fs.readFileSync(rw, 'utf8')).toBe('new');
  });
});
