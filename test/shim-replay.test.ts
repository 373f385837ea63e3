/**
 * Issue 13 input 3 end to end, under real pm2: a client subscribes through `exai shim` to a
 * resource that changes every 300 ms and sets its log level to "error"; then `exai restart`.
 * The shim's new connection must carry the same session: updates keep coming, and the info
 * messages the client turned off stay off (test/fixtures/ticker-server.mjs logs both every tick).
 */
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExaiStatus as Status } from '../src/daemon/builtins.js';
import type { SpawnResult as SpawnJson } from '../src/start/spawn.js';
import { resolveWorkspace } from '../src/workspace/identity.js';
import { ROOT, makeTestEnv, runCli, shimTransport, waitFor, type TestEnv } from './helpers/env.js';
import { recordMessages, writeServers } from './upstreams-helpers.js';

const TICKER = join(ROOT, 'test', 'fixtures', 'ticker-server.mjs');
const URI = 'ticker://clock';

let t: TestEnv;
let client: Client | undefined;

beforeAll(() => {
  t = makeTestEnv();
});

afterAll(async () => {
  await client?.close().catch(() => undefined);
  await t?.cleanup();
});

const isUpdate = (m: JSONRPCMessage) => 'method' in m && m.method === 'notifications/resources/updated';
const logLevel = (m: JSONRPCMessage) =>
  'method' in m && m.method === 'notifications/message' ? (m.params as { level: string }).level : undefined;

describe('a client session survives `exai restart`', () => {
  it('keeps its resource subscription and its log level', async () => {
    const workspace = resolveWorkspace(t.workspace('replay')).path;
    writeServers(workspace, { ticker: { command: process.execPath, args: [TICKER] } });
    const spawned = await runCli(['spawn', '--workspace', workspace, '--no-config', '--json'], t.env);
    expect(spawned.code, spawned.stderr).toBe(0);
    const { port } = JSON.parse(spawned.stdout) as SpawnJson;

    const transport = shimTransport(t.env, port, workspace);
    client = new Client({ name: 'replay-e2e', version: '1.0.0' });
    await client.connect(transport);
    const received = recordMessages(transport);
    const c = client;
    const status = async () => (await c.callTool({ name: 'exai_status', arguments: {} })).structuredContent as unknown as Status;

    await waitFor(async () => ((await c.listResources()).resources.some((r) => r.uri === URI) ? true : undefined), { what: 'the ticker resource' });
    await c.setLoggingLevel('error');
    await c.subscribeResource({ uri: URI });
    let mark = received.length;
    await waitFor(() => (received.slice(mark).filter(isUpdate).length >= 2 ? true : undefined), { what: 'updates before the restart' });
    expect(received.slice(mark).map(logLevel).filter(Boolean)).not.toContain('info');
    expect(received.slice(mark).map(logLevel)).toContain('error');

    const before = (await status()).pid;
    const restarted = await runCli(['restart', '--workspace', workspace, '--json'], t.env);
    expect(restarted.code, restarted.stderr).toBe(0);
    await waitFor(async () => ((await status()).pid !== before ? true : undefined), { what: 'the restarted daemon', timeoutMs: 30_000, intervalMs: 250 });

    // The first update proves the subscription came back; from then on, over several ticks,
    // only the level the client chose may arrive.
    mark = received.length;
    await waitFor(() => (received.slice(mark).some(isUpdate) ? true : undefined), { what: 'an update after the restart', timeoutMs: 30_000 });
    mark = received.findIndex((m, i) => i >= mark && isUpdate(m));
    await waitFor(() => (received.slice(mark).filter(isUpdate).length >= 5 ? true : undefined), { what: 'more updates after the restart' });
    expect(received.slice(mark).filter(isUpdate).every((m) => 'params' in m && (m.params as { uri: string }).uri === URI)).toBe(true);
    const levels = received.slice(mark).map(logLevel).filter(Boolean);
    expect(levels).toContain('error');
    expect(levels).not.toContain('info');
  });
});
