/**
 * Ctrl-C during `exai remove` never leaves a workspace half removed (daemon and token gone, its
 * configs emptied, but still registered, so `list`, `doctor --fix` and the fleet brought back
 * after pm2 dies would start it again): a remove that began is finished, and one line says so.
 * The point is found with the CLI's test pause (EXAI_TEST_PAUSE_AT), never with sleeps.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, makeTestEnv, pm2Apps, runCli, spawnJson, type TestEnv } from './helpers/env.js';
import { readToken } from '../src/workspace/token.js';
import { WINDOWS } from './helpers/platform.js';

let t: TestEnv;
beforeAll(() => {
  t = makeTestEnv();
});
afterAll(async () => {
  await t.cleanup();
});

function registered(id: string): boolean {
  const data = JSON.parse(readFileSync(join(t.home, 'registry.json'), 'utf8')) as { workspaces: Record<string, unknown> };
  return data.workspaces[id] !== undefined;
}

describe.skipIf(WINDOWS)('an interrupted exai remove', () => {
  it.each(['SIGINT', 'SIGTERM'] as const)('%s after the pm2 app is gone: the remove is finished, the user’s files kept, one line says so', async (signal) => {
    const ws = t.workspace(`rm-${signal}`);
    writeFileSync(join(ws, 'notes.txt'), 'mine\n');
    const spawned = await spawnJson(t.env, ws, '--client', 'claude', '--client', 'vscode');

    const child = spawn(process.execPath, [CLI, 'remove', '--workspace', ws], { env: { ...t.env, VITEST: 'true', EXAI_TEST_PAUSE_AT: 'app-deleted' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    const closed = new Promise<number | null>((resolve) => child.once('close', (code: number | null) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        err += d;
        if (err.includes('exai-test: paused at app-deleted\n')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`remove exited ${code} before pausing: ${err}`)));
    });
    child.kill(signal);
    const code = await closed;

    expect(code, err).toBe(0);
    expect(err.trim().split('\n').at(-1)).toBe(`exai: ${signal} received; the remove was finished first: ${ws} removed`);
    expect(out).toContain(`removed  ${spawned.name}`);
    expect(registered(spawned.id)).toBe(false);
    expect(readToken(t.home, spawned.id)).toBeUndefined();
    expect((await pm2Apps(t.env)).map((a) => a.name)).not.toContain(spawned.name);
    for (const file of ['.mcp.json', '.vscode/mcp.json', '.claude/settings.local.json']) expect(existsSync(join(ws, file))).toBe(false);
    expect(readFileSync(join(ws, 'notes.txt'), 'utf8')).toBe('mine\n');
    // Nothing left for list to offer to start again.
    expect((await runCli(['list'], t.env)).stdout).not.toContain(ws);
  }, 90_000);
});
