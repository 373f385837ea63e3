import { spawn, type ChildProcess } from 'node:child_process';
import * as nodeFs from 'node:fs';
import { existsSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withLock } from '../src/supervisor/lock.js';
import { childExit, makeTestEnv, ROOT, waitFor, type TestEnv } from './helpers/env.js';

const FIXTURES = join(ROOT, 'test', 'fixtures');

let t: TestEnv;
const children: ChildProcess[] = [];

beforeAll(() => {
  t = makeTestEnv();
});
afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill();
  await t.cleanup();
});

function lockFile(name: string): string {
  return join(t.home, 'locks', `${name}.lock`);
}

function writeForeignLock(name: string, info: { pid: number; createdAt: string }, mtime?: Date): void {
  mkdirSync(join(t.home, 'locks'), { recursive: true });
  const file = lockFile(name);
  writeFileSync(file, JSON.stringify({ ...info, host: hostname(), token: 'someone-else' }));
  if (mtime) utimesSync(file, mtime, mtime);
}

function run(script: string, args: string[]): ChildProcess {
  const child = spawn(process.execPath, [join(FIXTURES, script), ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  return child;
}

/** Resolves with everything the child printed once `marker` appears on its stdout. */
function waitForOutput(child: ChildProcess, marker: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out.includes(marker)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`child exited (${code}) before printing ${marker}: ${err}`)));
  });
}

describe('withLock', () => {
  it('loses no increment when 4 processes x 50 increment one counter file under the lock', async () => {
    const counter = join(t.dir, 'counter');
    writeFileSync(counter, '0');
    const procs = Array.from({ length: 4 }, () => run('lock-counter.mjs', [t.home, counter, '50']));
    const stderr = procs.map((p) => {
      let s = '';
      p.stderr?.setEncoding('utf8').on('data', (d: string) => (s += d));
      return () => s;
    });
    const exits = await Promise.all(procs.map(childExit));
    exits.forEach((e, i) => expect(e.code, stderr[i]?.()).toBe(0));
    expect(readFileSync(counter, 'utf8')).toBe('200');
    // The last holder cleaned up after itself.
    expect(existsSync(lockFile('counter'))).toBe(false);
  }, 120_000);

  it('takes over at once a lock left by a process that has exited', async () => {
    const dead = spawn(process.execPath, ['-e', '']);
    const deadPid = dead.pid!;
    await childExit(dead);
    writeForeignLock('dead', { pid: deadPid, createdAt: new Date().toISOString() });
    // Far below the 60 s age limit: only the dead pid can explain getting the lock.
    const seenPid = await withLock(t.home, 'dead', () => JSON.parse(readFileSync(lockFile('dead'), 'utf8')).pid as number, { timeoutMs: 3_000 });
    expect(seenPid).toBe(process.pid);
    expect(existsSync(lockFile('dead'))).toBe(false);
  });

  it('takes over a lock untouched for longer than staleMs even when its pid is alive (pid reuse)', async () => {
    const longAgo = new Date(Date.now() - 3_600_000);
    // Our parent (the test runner) is alive and is not us.
    writeForeignLock('old', { pid: process.ppid, createdAt: longAgo.toISOString() }, longAgo);
    const owner = await withLock(t.home, 'old', () => JSON.parse(readFileSync(lockFile('old'), 'utf8')).pid as number, { timeoutMs: 3_000 });
    expect(owner).toBe(process.pid);
  });

  it('does not take a fresh lock of a live process; times out naming the file and how to clear it', async () => {
    writeForeignLock('fresh', { pid: process.ppid, createdAt: new Date().toISOString() });
    let ran = false;
    const err = await withLock(t.home, 'fresh', () => (ran = true), { timeoutMs: 400 }).catch((e: unknown) => e);
    expect(ran).toBe(false);
    expect(err).toMatchObject({ code: 'LOCK_TIMEOUT' });
    const message = (err as Error).message;
    expect(message).toContain(lockFile('fresh'));
    expect(message).toContain(`pid ${process.ppid}`);
    expect(message).toMatch(/delete that file/);
    // The foreign lock is still there: a waiter never deletes what it does not own.
    expect(JSON.parse(readFileSync(lockFile('fresh'), 'utf8')).token).toBe('someone-else');
  });

  it('makes a waiter block while another process holds the lock, and go on once it is released', async () => {
    const done = join(t.dir, 'holder-done');
    const holder = run('lock-hold.mjs', [t.home, 'held', done]);
    await waitForOutput(holder, 'held');
    let sawHolderDone: boolean | undefined;
    // Counts the waiter's refused creates: it has found the lock held (twice), not merely "500 ms passed".
    let refused = 0;
    const fs = { ...nodeFs, openSync: ((...args: Parameters<typeof nodeFs.openSync>) => {
      try {
        return nodeFs.openSync(...args);
      } catch (err) {
        refused++;
        throw err;
      }
    }) as typeof nodeFs.openSync };
    const waiter = withLock(t.home, 'held', () => (sawHolderDone = existsSync(done)), { timeoutMs: 30_000, fs });
    await waitFor(() => (refused >= 2 ? true : undefined), { what: 'the waiter to find the lock held', intervalMs: 10 });
    expect(sawHolderDone).toBeUndefined();
    holder.stdin?.write('release\n');
    await waiter;
    // The waiter ran only after the holder had finished its critical section.
    expect(sawHolderDone).toBe(true);
    expect((await childExit(holder)).code).toBe(0);
  });

  it('serializes concurrent holders inside one process and lets a holder re-enter its own lock', async () => {
    let inside = 0;
    let maxInside = 0;
    const work = async () => {
      inside++;
      maxInside = Math.max(maxInside, inside);
      await sleep(5);
      // Re-entering the same lock from within must not deadlock.
      await withLock(t.home, 'inproc', () => undefined, { timeoutMs: 2_000 });
      inside--;
    };
    await Promise.all(Array.from({ length: 5 }, () => withLock(t.home, 'inproc', work)));
    expect(maxInside).toBe(1);
  });

  it('leaves alone a lock that someone else took over while it ran (only the owner deletes)', async () => {
    await withLock(t.home, 'stolen', () => {
      writeFileSync(lockFile('stolen'), JSON.stringify({ pid: process.ppid, host: hostname(), createdAt: new Date().toISOString(), token: 'thief' }));
    });
    expect(JSON.parse(readFileSync(lockFile('stolen'), 'utf8')).token).toBe('thief');
  });

  it('releases the lock when fn throws, and passes the error on', async () => {
    await expect(withLock(t.home, 'throws', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(existsSync(lockFile('throws'))).toBe(false);
    expect(await withLock(t.home, 'throws', () => 42, { timeoutMs: 1_000 })).toBe(42);
  });
});
