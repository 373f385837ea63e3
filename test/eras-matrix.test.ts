/**
 * The cell matrix of issue 20: every client era × server era, through the shim launched from
 * the `.vscode/mcp.json` exai wrote, in a strict client's environment, for list, call,
 * progress, cancel, elicitation, sampling, roots, subscription updates, log level and
 * list_changed. Clients: the SDK v1 client (2025-11-25), the SDK v2 client pinned to
 * 2026-07-28 and in `auto`. Servers: the SDK v2 fixture 2026-07-28-only, and the same fixture
 * pinned to 2025-11-25, each alone in a workspace of its own (both offer fx://counter).
 * Real pm2, daemons, shims and servers.
 */
import { join } from 'node:path';
import { Client as ClientV2 } from '@modelcontextprotocol/client';
import { StdioClientTransport as StdioV2 } from '@modelcontextprotocol/client/stdio';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  LoggingMessageNotificationSchema,
  ResourceUpdatedNotificationSchema,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UpstreamStatus } from '../src/daemon/upstreams/upstream.js';
import { ROOT, makeTestEnv, runCli, waitFor, type TestEnv } from './helpers/env.js';
import { dualEntry, modernEntry } from './helpers/eras.js';
import { strictEnv, strictTransport, writtenEntry } from './helpers/strict-client.js';
import { textOf, writeServers } from './upstreams-helpers.js';

let t: TestEnv;
let home: string;
const workspaces: Record<string, string> = {};
beforeAll(async () => {
  t = makeTestEnv();
  home = join(t.dir, 'client-home');
  const servers = { modern: modernEntry(), old: dualEntry({ protocol: '2025-11-25' }) };
  for (const [name, entry] of Object.entries(servers)) {
    workspaces[name] = t.workspace(`matrix-${name}`);
    writeServers(workspaces[name]!, { [name]: entry });
    const res = await runCli(['spawn', '--workspace', workspaces[name]!, '--json'], t.env);
    expect(res.code, res.stderr).toBe(0);
  }
}, 120_000);
afterAll(async () => {
  await t.cleanup();
});

type Kind = 'v1 (2025-11-25)' | 'v2 pinned 2026-07-28' | 'v2 auto';
type CallOptions = { onprogress?: (p: { progress: number }) => void; signal?: AbortSignal };

/** One client of either SDK, with everything a cell needs behind one shape. */
interface CellClient {
  era(): string;
  list(): Promise<string[]>;
  call(name: string, args: Record<string, unknown>, options?: CallOptions): Promise<object>;
  /** Resource updates of `uri` and tool list changes from now on. */
  watch(uri: string): Promise<void>;
  /** The log level: logging/setLevel (2025), or on each later request (2026-07-28). */
  level(level: 'info' | 'error'): Promise<void>;
  heard: { updates: string[]; toolsChanged: number; logs: string[] };
  close(): Promise<void>;
}

const ANSWERS = {
  elicit: () => ({ action: 'accept' as const, content: { name: 'Ada' } }),
  sample: () => ({ model: 'm', role: 'assistant' as const, content: { type: 'text' as const, text: 'banana' } }),
  roots: () => ({ roots: [{ uri: 'file:///matrix/root' }] }),
};

async function connect(kind: Kind, ws: string): Promise<CellClient> {
  const heard = { updates: [] as string[], toolsChanged: 0, logs: [] as string[] };
  const entry = writtenEntry(ws);
  if (kind === 'v1 (2025-11-25)') {
    const client = new Client({ name: 'matrix-v1', version: '0' }, { capabilities: { elicitation: {}, sampling: {}, roots: {} } });
    client.setRequestHandler(ElicitRequestSchema, ANSWERS.elicit);
    client.setRequestHandler(CreateMessageRequestSchema, ANSWERS.sample);
    client.setRequestHandler(ListRootsRequestSchema, ANSWERS.roots);
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void heard.updates.push(n.params.uri));
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => void heard.toolsChanged++);
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void heard.logs.push(String(n.params.data)));
    await client.connect(strictTransport(entry, home));
    return {
      era: () => client.getServerVersion()?.name ?? '',
      list: async () => (await client.listTools()).tools.map((x) => x.name),
      call: (name, args, options) => client.callTool({ name, arguments: args }, undefined, { ...options, timeout: 60_000 }),
      watch: async (uri) => void (await client.subscribeResource({ uri })),
      level: async (level) => void (await client.setLoggingLevel(level)),
      heard,
      close: () => client.close(),
    };
  }
  const mode = kind === 'v2 auto' ? 'auto' : { pin: '2026-07-28' };
  const client = new ClientV2({ name: 'matrix-v2', version: '0' }, { versionNegotiation: { mode }, capabilities: { elicitation: { form: {} }, sampling: {}, roots: {} } });
  client.setRequestHandler('elicitation/create', async () => ANSWERS.elicit());
  client.setRequestHandler('sampling/createMessage', async () => ANSWERS.sample());
  client.setRequestHandler('roots/list', async () => ANSWERS.roots());
  client.setNotificationHandler('notifications/resources/updated', (n) => void heard.updates.push(n.params.uri));
  client.setNotificationHandler('notifications/tools/list_changed', () => void heard.toolsChanged++);
  client.setNotificationHandler('notifications/message', (n) => void heard.logs.push(String(n.params.data)));
  await client.connect(new StdioV2({ command: entry.command, args: entry.args, env: strictEnv(entry, home), stderr: 'pipe', cwd: ROOT }));
  let logLevel: string | undefined;
  return {
    era: () => client.getNegotiatedProtocolVersion() ?? '',
    list: async () => (await client.listTools()).tools.map((x) => x.name),
    call: (name, args, options) =>
      client.callTool({ name, arguments: args, ...(logLevel ? { _meta: { 'io.modelcontextprotocol/logLevel': logLevel } } : {}) }, { ...options, timeout: 60_000 }),
    watch: async (uri) => void (await client.listen({ toolsListChanged: true, resourceSubscriptions: [uri] })),
    level: async (level) => void (logLevel = level),
    heard,
    close: () => client.close(),
  };
}

const KINDS: Kind[] = ['v1 (2025-11-25)', 'v2 pinned 2026-07-28', 'v2 auto'];
const SERVERS = [
  { server: 'old', era: '2025-11-25' },
  { server: 'modern', era: '2026-07-28' },
];

describe('every client era × server era through the shim', () => {
  for (const kind of KINDS) {
    for (const { server, era } of SERVERS) {
      it(`${kind} × ${era} server: list, call, progress, cancel, elicitation, sampling, roots, subscription updates, log level, list_changed`, async () => {
        const c = await connect(kind, workspaces[server]!);
        try {
          expect(c.era()).toBe(kind.startsWith('v1') ? 'exai' : '2026-07-28');
          expect(await c.list()).toContain(`${server}__echo`);
          expect(textOf(await c.call(`${server}__echo`, { text: 'hi' }))).toBe(`${server === 'old' ? 'dual' : 'modern'}-fixture (${server === 'old' ? 'legacy' : 'modern'}) echo: hi`);

          // Progress (the result comes 300 ms after it: see eras-sessions.test.ts), then a cancel the server sees.
          const progress: number[] = [];
          expect(textOf(await c.call(`${server}__slow`, { steps: 3, ms: 300 }, { onprogress: (p) => progress.push(p.progress) }))).toBe('slept 300');
          expect(progress).toEqual([1, 2, 3]);
          const controller = new AbortController();
          let started!: () => void;
          const reached = new Promise<void>((resolve) => (started = resolve));
          const tag = `${kind}-${server}`;
          const slow = c.call(`${server}__slow`, { steps: 1, ms: 60_000, tag }, { signal: controller.signal, onprogress: () => started() });
          await reached;
          controller.abort('stop');
          await expect(slow).rejects.toThrow();
          await waitFor(
            async () => {
              const status = (await c.call('exai_status', {})) as { structuredContent: { upstreams: UpstreamStatus[] } };
              const u = status.structuredContent.upstreams.find((x) => x.name === server);
              return u?.stderrTail.some((l) => l.endsWith(`slow was cancelled (${tag})`)) ? true : undefined;
            },
            { what: 'the server to see the cancel' },
          );

          expect(textOf(await c.call(`${server}__ask`, {}))).toBe('hello Ada');
          expect(textOf(await c.call(`${server}__sample`, {}))).toBe('the model said banana');
          expect(textOf(await c.call(`${server}__roots`, {}))).toBe('roots: file:///matrix/root');

          await c.watch('fx://counter');
          await c.call(`${server}__bump`, {});
          await waitFor(() => (c.heard.updates.includes('fx://counter') ? true : undefined), { what: 'the resource update' });

          await c.level('error');
          await c.call(`${server}__log`, { message: `${tag} at error` });
          await c.level('info');
          await c.call(`${server}__log`, { message: `${tag} at info` });
          await waitFor(() => (c.heard.logs.includes(`${tag} at info`) ? true : undefined), { what: 'the info message' });
          expect(c.heard.logs.filter((l) => l.startsWith(tag))).toEqual([`${tag} at info`]);

          const grew = textOf(await c.call(`${server}__grow`, {}));
          await waitFor(() => (c.heard.toolsChanged > 0 ? true : undefined), { what: 'tools/list_changed' });
          expect(await c.list()).toContain(`${server}__grown${grew.split(' ')[1]}`);
        } finally {
          await c.close();
        }
      });
    }
  }
});
