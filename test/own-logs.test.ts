/**
 * A workspace's own daemon's output in `exai logs` (issue 25): the launcher passes each line to
 * pm2's logs with the time it was written (src/daemon/stamp-lines.ts), so stdout and stderr are
 * interleaved in the order the daemon wrote them, as for exai's own daemon. A real daemon under
 * real pm2, and the line splitter alone on a stream.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stampLines, unstamped } from '../src/daemon/stamp-lines.js';
import { writeDaemon } from './own-daemon-helpers.js';
import { makeTestEnv, runCli, spawnJson, waitFor, type TestEnv } from './helpers/env.js';

let t: TestEnv;
beforeAll(() => {
  t = makeTestEnv();
});
afterAll(async () => {
  await t?.cleanup();
});

describe('exai logs of an own daemon', () => {
  it('interleaves its stdout and stderr in the order it wrote them, each line with its time', async () => {
    const ws = t.workspace('own-logs');
    // Lines alternate between the two streams, each written after the previous was (a tick apart).
    writeFileSync(
      join(ws, 'daemon.cjs'),
      `const lines = [['log', 'one'], ['error', 'two'], ['log', 'three'], ['error', 'four']];
       lines.forEach(([how, text], i) => setTimeout(() => console[how](text), 30 * i));
       require('node:net').createServer((s) => s.end()).listen(Number(process.env.PORT), '127.0.0.1');`,
    );
    writeDaemon(ws, { command: process.execPath, args: ['daemon.cjs'], env: { PORT: '${port}' }, client: { type: 'http', url: 'http://127.0.0.1:${port}/mcp' } });
    await spawnJson(t.env, ws, '--no-config');
    type Line = { time: string | null; stream: string; line: string };
    const logged = await waitFor(
      async () => {
        const res = await runCli(['logs', '--workspace', ws, '--json'], t.env);
        const lines = res.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line);
        const mine = lines.filter((l) => ['one', 'two', 'three', 'four'].includes(unstamped(l.line)));
        return mine.length === 4 ? mine : undefined;
      },
      { what: 'the daemon\'s four lines in exai logs', timeoutMs: 30_000 },
    );
    expect(logged.map((l) => [l.stream, unstamped(l.line)])).toEqual([['out', 'one'], ['err', 'two'], ['out', 'three'], ['err', 'four']]);
    for (const l of logged) expect(l.time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  });
});

describe('stampLines', () => {
  it('stamps whole lines across chunk boundaries, keeps their bytes, and ends a last line without a newline', async () => {
    const from = new PassThrough();
    const written: Buffer[] = [];
    let n = 0;
    const done = stampLines(from, { write: (b: Buffer) => written.push(b) }, () => new Date(Date.UTC(2026, 11, 6, 0, 0, n++)));
    from.write('al');
    from.write('pha\r\nbe');
    from.write(Buffer.from([0x74, 0x61, 0xe2, 0x82]));
    from.write(Buffer.from([0xac, 0x0a, 0x0a]));
    from.end('last');
    await done;
    expect(Buffer.concat(written).toString('utf8')).toBe(
      '2026-12-06T00:00:00.000Z alpha\r\n2026-12-06T00:00:01.000Z beta€\n2026-12-06T00:00:02.000Z \n2026-12-06T00:00:03.000Z last\n',
    );
  });
});
