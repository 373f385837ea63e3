import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { followFile, tailLines, TAIL_BLOCK } from '../src/fleet/logs.js';
import { homeLayout } from '../src/workspace/layout.js';
import type { Finding } from '../src/fleet/doctor.js';
import { CLI, makeTestEnv, runCli, spawnJson, waitFor, type TestEnv } from './helpers/env.js';
import { writeFixtureServer, writeServers } from './upstreams-helpers.js';

let t: TestEnv;
let scratch: string;
beforeAll(() => {
  t = makeTestEnv();
  scratch = mkdtempSync(join(tmpdir(), 'exai-logs-'));
});
afterAll(async () => {
  await t.cleanup();
  rmSync(scratch, { recursive: true, force: true });
});

const numbered = (tag: string, n: number) => Array.from({ length: n }, (_, i) => `2026-01-01T00:00:00.000Z info ${tag} line ${i + 1} ünïcödé €`);

/** A log whose last TAIL_BLOCK bytes start inside a 3-byte `€`, `n` lines of it after that. */
function logWithSplitChar(file: string): string[] {
  const tail = numbered('tail', 5);
  const tailBytes = Buffer.byteLength(tail.join('\n') + '\n');
  const euro = Buffer.from('€'); // 3 bytes
  // One long line of euros ends just before the tail; the block boundary falls on its 2nd byte.
  const longBytes = TAIL_BLOCK - tailBytes + 1; // from the boundary back to inside a euro
  const count = Math.ceil((longBytes + 2) / euro.length);
  const long = '€'.repeat(count);
  writeFileSync(file, ['head', long, ...tail].join('\n') + '\n');
  const size = Buffer.byteLength(['head', long, ...tail].join('\n') + '\n');
  const boundary = size - TAIL_BLOCK;
  const startOfLong = Buffer.byteLength('head\n');
  expect((boundary - startOfLong) % 3).not.toBe(0); // the boundary really splits a character
  return [long, ...tail];
}

describe('tailLines (issue 19 item 9c)', () => {
  it('keeps a multi-byte character whole where it falls on a read block boundary', () => {
    const file = join(scratch, 'split.log');
    const want = logWithSplitChar(file);
    const got = tailLines(file, 6);
    expect(got).toEqual(want);
    expect(got.join('')).not.toContain('\uFFFD');
  });
});

describe('followFile (issue 19 item 9d)', () => {
  function follower(file: string) {
    const got: string[] = [];
    const stop = followFile(file, (lines) => got.push(...lines), 20);
    return { got, stop };
  }

  it('waits for a line’s newline, keeps split characters whole, and rereads a file truncated and refilled past its old size', async () => {
    const file = join(scratch, 'follow.log');
    writeFileSync(file, numbered('old', 10).join('\n') + '\n');
    const f = follower(file);
    try {
      const euro = Buffer.from(' €\n');
      appendFileSync(file, Buffer.concat([Buffer.from('partial'), euro.subarray(0, 2)]));
      await waitFor(() => (f.got.length === 0 ? undefined : true), { timeoutMs: 300, what: 'nothing yet' }).catch(() => undefined);
      expect(f.got).toEqual([]); // half a line is not a line
      appendFileSync(file, euro.subarray(2));
      await waitFor(() => (f.got.length ? true : undefined), { what: 'the whole line' });
      expect(f.got).toEqual(['partial €']);

      // Truncated and refilled with more than it held, between two polls (one write).
      f.got.length = 0;
      const refill = numbered('new', 150);
      writeFileSync(file, refill.join('\n') + '\n');
      await waitFor(() => (f.got.length >= 150 ? true : undefined), { what: '150 lines after the refill' });
      expect(f.got).toEqual(refill);

      // Truncated to less than was read.
      f.got.length = 0;
      writeFileSync(file, 'short\n');
      await waitFor(() => (f.got.length ? true : undefined), { what: 'the line after truncation' });
      expect(f.got).toEqual(['short']);

      // Replaced by another file (new inode) of the very same size.
      f.got.length = 0;
      writeFileSync(`${file}.next`, 'shirt\n');
      renameSync(`${file}.next`, file);
      await waitFor(() => (f.got.length ? true : undefined), { what: 'the line of the new file' });
      expect(f.got).toEqual(['shirt']);
    } finally {
      f.stop();
    }
  });
});

describe('exai logs on a real daemon’s log (issue 19 item 9c, 9d)', () => {
  it('--lines decodes across blocks; --follow prints all 150 lines of a log truncated and refilled between polls', async () => {
    const dir = t.workspace('logs-follow');
    const { name } = await spawnJson(t.env, dir);
    const out = homeLayout(t.home).outLog(name);
    // Stopped, its daemon appends nothing that would move the block boundary under the test.
    expect((await runCli(['stop', '--workspace', dir], t.env)).code).toBe(0);

    const want = logWithSplitChar(out);
    const tail = await runCli(['logs', '--workspace', dir, '--lines', '6'], t.env);
    expect(tail.code, tail.stderr).toBe(0);
    expect(tail.stdout).not.toContain('\uFFFD');
    expect(tail.stdout).toContain(`out | ${want[0]}`);

    writeFileSync(out, ''); // small before the refill: its size alone cannot tell it was rewritten
    const child = spawn(process.execPath, [CLI, 'logs', '--workspace', dir, '--follow', '--lines', '0'], { env: t.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    try {
      // Following once a line appended now comes through.
      await waitFor(
        () => {
          appendFileSync(out, '2026-01-01T00:00:00.000Z info ready\n');
          return stdout.includes('info ready') ? true : undefined;
        },
        { intervalMs: 300, what: 'logs --follow to follow' },
      );
      const refill = numbered('refill', 150);
      writeFileSync(out, refill.join('\n') + '\n'); // bigger than what was read: only the fingerprint tells
      await waitFor(() => (stdout.includes('refill line 150 ') ? true : undefined), { what: 'the last refilled line' });
      const printed = stdout.split('\n').filter((l) => l.includes(' refill line '));
      expect(printed).toEqual(refill.map((l) => `out | ${l}`));
    } finally {
      child.kill('SIGTERM');
    }
  }, 60_000);
});

describe('a flooding server and growing logs (issue 19 item 9a)', () => {
  it('32 MiB of a server’s stderr: its pipe is drained (it comes up), the log grows by under 1 MiB and says how much it left out', async () => {
    const dir = t.workspace('logs-flood');
    const fixture = writeFixtureServer(dir);
    const flood = join(dir, 'flood.cjs');
    // Synchronous writes to a pipe block when nobody reads it: the server only gets to serve
    // once all 32 MiB went through the daemon.
    writeFileSync(flood, `const line = 'flood '.padEnd(1023, 'x') + '\\n';\nfor (let i = 0; i < 32 * 1024; i++) process.stderr.write(line);\nrequire(${JSON.stringify(fixture)});\n`);
    writeServers(dir, { flood: { command: process.execPath, args: [flood] } });
    const { name } = await spawnJson(t.env, dir);
    const layout = homeLayout(t.home);
    const up = await waitFor(
      async () => {
        const rows = JSON.parse((await runCli(['list', '--json'], t.env)).stdout) as { workspace: string; upstreams?: { name: string; state: string }[] }[];
        const u = rows.find((r) => r.workspace === dir)?.upstreams?.find((x) => x.name === 'flood');
        return u?.state === 'up' ? u : undefined;
      },
      { timeoutMs: 60_000, what: 'the flooding server up' },
    );
    expect(up.state).toBe('up');
    const leftOut = await waitFor(
      () => {
        const text = readFileSync(layout.errLog(name), 'utf8');
        return /upstream flood stderr: (\d+) line\(s\) \((\d+) KiB\) left out of this log/.exec(text) ?? undefined;
      },
      { timeoutMs: 30_000, what: 'the line saying what was left out' }, // said at the end of its 10 s window
    );
    expect(Number(leftOut[1])).toBeGreaterThan(30 * 1024);
    const grown = statSync(layout.outLog(name)).size + statSync(layout.errLog(name)).size;
    expect(grown).toBeLessThan(1024 * 1024);
  }, 120_000);

  it('a daemon log over 10 MiB is cut: copied to .1 (older copies shift, 3 kept), emptied, and logging goes on in it', async () => {
    const dir = t.workspace('logs-rotate');
    const { name } = await spawnJson(t.env, dir);
    const out = homeLayout(t.home).outLog(name);
    for (const i of [1, 2, 3]) writeFileSync(`${out}.${i}`, `copy ${i}\n`);
    appendFileSync(out, Buffer.alloc(10 * 1024 * 1024 + 1, 'x'));
    await waitFor(() => (statSync(out).size < 1024 * 1024 ? true : undefined), { timeoutMs: 30_000, what: 'the log cut' });
    expect(statSync(`${out}.1`).size).toBeGreaterThan(10 * 1024 * 1024);
    expect(readFileSync(`${out}.2`, 'utf8')).toBe('copy 1\n');
    expect(readFileSync(`${out}.3`, 'utf8')).toBe('copy 2\n');
    expect(existsSync(`${out}.4`)).toBe(false);
    // pm2 goes on appending to the emptied file (a restart logs its listening line there).
    expect((await runCli(['restart', '--workspace', dir], t.env)).code).toBe(0);
    await waitFor(() => (/listening on/.test(readFileSync(out, 'utf8')) ? true : undefined), { what: 'a new line in the cut log' });
    expect(readFileSync(out, 'utf8')).not.toContain('xxxx');
    // `exai remove` takes the copies too.
    expect((await runCli(['remove', '--workspace', dir], t.env)).code).toBe(0);
    for (const i of [1, 2, 3]) expect(existsSync(`${out}.${i}`)).toBe(false);
  }, 90_000);
});

describe.skipIf(process.platform === 'win32')('logging after the disk was full (issue 19 item 9b)', () => {
  it('doctor sees pm2 stopped writing a daemon’s logs and --fix makes logging go on', async () => {
    const dir = t.workspace('logs-full');
    const { name } = await spawnJson(t.env, dir);
    const layout = homeLayout(t.home);
    const files = [layout.outLog(name), layout.errLog(name)];
    // A full disk: pm2 reopens the logs onto /dev/full, where every write fails with ENOSPC.
    for (const f of files) {
      rmSync(f);
      symlinkSync('/dev/full', f);
    }
    expect((await runCli(['pm2', 'reloadLogs'], t.env)).code).toBe(0);
    const logsFinding = async (...args: string[]) => {
      const res = await runCli(['doctor', '--json', ...args], t.env);
      return (JSON.parse(res.stdout) as { findings: Finding[] }).findings.find((f) => f.scope === dir && f.check === 'logs');
    };
    expect(await logsFinding()).toMatchObject({ status: 'problem' }); // its writes failed: pm2 dropped both streams
    // Space comes back: nothing is written there again by itself…
    for (const f of files) rmSync(f);
    const still = await logsFinding();
    expect(still).toMatchObject({ status: 'problem', fix: expect.stringContaining('exai doctor --fix') as string });
    expect(still!.message).toContain(files[0]);
    expect(existsSync(files[0]!)).toBe(false);
    // …until doctor --fix reopens the files.
    expect(await logsFinding('--fix')).toMatchObject({ status: 'fixed' });
    expect(await logsFinding()).toMatchObject({ status: 'ok' });
    for (const f of files) expect(readFileSync(f, 'utf8')).toContain('log check by exai doctor');
  }, 90_000);
});
