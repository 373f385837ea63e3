/**
 * Streamable HTTP against the real daemon under pm2 (issue 23): `exai list` shows HTTP
 * sessions, a daemon with only HTTP clients stays up and idles out once they are gone (also
 * without DELETE, through the session expiry), and a restart under an HTTP client answers its
 * old session id 404 so the client initializes again.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_IDLE } from '../src/common/exit-codes.js';
import type { ExaiStatus as Status } from '../src/daemon/builtins.js';
import type { ListRow } from '../src/fleet/list.js';
import type { SpawnResult } from '../src/start/spawn.js';
import { readToken } from '../src/workspace/token.js';
import { getHealth } from './helpers/daemon.js';
import { makeTestEnv, runCli, runPm2, waitFor, type TestEnv } from './helpers/env.js';
import { connectHttp } from './http-helpers.js';
import { exaiStatus as status } from './helpers/mcp-client.js';

let t: TestEnv;
beforeAll(() => {
  t = makeTestEnv();
});
afterAll(async () => {
  await t.cleanup();
});

const IDLE_MS = 3_000;

async function spawn(name: string, extra: string[] = [], env: NodeJS.ProcessEnv = t.env): Promise<SpawnResult & { token: string }> {
  const res = await runCli(['spawn', '--workspace', t.workspace(name), '--json', ...extra], env);
  expect(res.code, res.stderr).toBe(0);
  const spawned = JSON.parse(res.stdout) as SpawnResult;
  return { ...spawned, token: readToken(t.home, spawned.id)! };
}

type App = { name: string; pid: number; pm2_env: { status: string; exit_code?: number } };
async function app(name: string): Promise<App | undefined> {
  const res = await runPm2(['jlist'], t.env);
  const line = res.stdout.split('\n').find((l) => l.startsWith('['));
  return (JSON.parse(line ?? '[]') as App[]).find((a) => a.name === name);
}

describe('HTTP clients of a daemon under pm2', () => {
  it('exai list and exai_status show sessions by transport', async () => {
    const spawned = await spawn('list');
    const { client } = await connectHttp(spawned.port, spawned.token);
    try {
      // `exai list` probes with a 1.5 s budget: on a busy machine one probe may miss it (not healthy, no sessions).
      const row = await waitFor(async () => {
        const res = await runCli(['list', '--json'], t.env);
        const r = (JSON.parse(res.stdout) as ListRow[]).find((x) => x.id === spawned.id);
        return r?.healthy ? r : undefined;
      }, { what: 'a healthy list row' });
      expect(row.sessions).toEqual({ ws: 0, http: 1 });
      const text = await waitFor(async () => {
        const res = await runCli(['list'], { ...t.env, COLUMNS: '250' });
        return /ws 0 http 1/.test(res.stdout) ? res.stdout : undefined;
      }, { what: 'the SESSIONS column' });
      expect(text).toMatch(/SESSIONS/);
      // (`exai list`'s own WebSocket probe may still be closing: only the HTTP count is exact here.)
      expect((await status(client)).sessionsByTransport.http).toBe(1);
    } finally {
      await client.close();
    }
  });

  it('keeps a daemon with only an HTTP client up past its idle timeout; once the client is gone (no DELETE) it idles out', async () => {
    const env = { ...t.env, EXAI_HTTP_SESSION_IDLE_MS: '1000' };
    const spawned = await spawn('idle-http', ['--idle-timeout', '3s', '--pass-env', 'EXAI_HTTP_SESSION_IDLE_MS'], env);
    const { client } = await connectHttp(spawned.port, spawned.token);
    const connectedAt = Date.now();
    // Two idle timeouts with the client connected (its GET stream open, no calls): still up.
    await waitFor(() => Date.now() - connectedAt > 2 * IDLE_MS || undefined, { what: 'two idle timeouts', intervalMs: 250, timeoutMs: 20_000 });
    const health = await getHealth(spawned.port);
    expect(health.pid).toBe(spawned.pid);
    expect(health.sessionsByTransport).toEqual({ ws: 0, http: 1 });
    // Gone without DELETE: the session expires (1 s quiet), then the daemon idles (3 s).
    await client.close();
    const stopped = await waitFor(async () => {
      const a = await app(spawned.name);
      return a?.pm2_env.status === 'stopped' ? a : undefined;
    }, { what: 'the daemon to exit idle', timeoutMs: 60_000, intervalMs: 250 });
    expect(stopped.pm2_env.exit_code).toBe(EXIT_IDLE);
    const logs = await runCli(['logs', '--workspace', spawned.workspace], t.env);
    expect(logs.stdout).toMatch(/HTTP session \S+ expired/);
  });

  it('a restart under an HTTP client: its old session id gets 404, and it initializes again', async () => {
    const spawned = await spawn('restart-http');
    const first = await connectHttp(spawned.port, spawned.token);
    const oldId = first.transport.sessionId;
    expect((await status(first.client)).pid).toBe(spawned.pid);
    const restarted = await runCli(['restart', '--workspace', spawned.workspace], t.env);
    expect(restarted.code, restarted.stderr).toBe(0);
    const err = await first.client.callTool({ name: 'exai_status', arguments: {} }).then(() => undefined, (e: unknown) => e as { code?: number });
    expect(err?.code).toBe(404);
    await first.client.close();
    const again = await connectHttp(spawned.port, spawned.token);
    try {
      expect(again.transport.sessionId).not.toBe(oldId);
      const s = await status(again.client);
      expect(s.pid).not.toBe(spawned.pid);
      expect(s.sessionsByTransport.http).toBe(1);
    } finally {
      await again.client.close();
    }
  });
});
