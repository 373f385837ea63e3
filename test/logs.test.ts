import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { followFile, tailLines, TAIL_BLOCK } from '../src/supervisor/logs.js';
import { homeLayout } from '../src/workspace/layout.js';
import { CLI, makeTestEnv, runCli, spawnJson, waitFor, type TestEnv } from './helpers/env.js';

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
