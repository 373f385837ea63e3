/**
 * list_changed, instructions, and for 2026-07-28 sessions subscription updates and log level, in each cell of session era × server era (issue 20, DESIGN.md
 * "Protocol eras"): a 2025-11-25 session (SDK v1 client) and a 2026-07-28 session (raw JSON-RPC
 * behind the EraTransport, listening with subscriptions/listen) against a 2025-11-25 server and
 * a 2026-07-28-only one (the SDK v2 fixture). The server's own tool list grows (its `grow`
 * tool); the session hears it and lists the new tool. Real in-process gateway, real processes.
 */
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
// The daemon's sessions run on the v2 SDK's Server; the clients stay v1 (the 2025 client).
import { Server } from '@modelcontextprotocol/server';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { EraTransport } from '../src/daemon/era-session.js';
import { GATEWAY_SERVER_CAPABILITIES, type Gateway } from '../src/daemon/upstreams/gateway.js';
import { waitFor } from './helpers/env.js';
import { dualEntry, modernEntry } from './helpers/eras.js';
import { echoBuiltin, gatewayTestFile, methods, textOf, writeServers } from './upstreams-helpers.js';

const { h, cleanups, env } = gatewayTestFile();

type Message = { id?: number | string; method?: string; params?: Record<string, unknown>; result?: Record<string, unknown> };
const ENVELOPE = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientCapabilities': {},
  'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' },
};

/** A gateway with the one server under test (both fixtures offer the resource fx://counter). */
async function gatewayWith(session: string, server: string): Promise<Gateway> {
  const ws = env().workspace(`cells-${session}-${server}`);
  writeServers(ws, server === 'old' ? { old: dualEntry({ protocol: '2025-11-25' }) } : { modern: modernEntry() });
  const gateway = h.startGateway(ws);
  await waitFor(() => gateway.status().upstreams.find((u) => u.name === server)?.state === 'up' || undefined, {
    what: `${server} up`,
    timeoutMs: 30_000,
  });
  return gateway;
}

const SERVERS = [
  { server: 'old', era: '2025-11-25', instructions: 'dual-fixture instructions' },
  { server: 'modern', era: '2026-07-28', instructions: 'modern-fixture instructions' },
];

describe('a 2025-11-25 session', () => {
  for (const { server, era, instructions } of SERVERS) {
    it(`hears a ${era} server's tools/list_changed, lists its new tool, and has its instructions`, async () => {
      const gateway = await gatewayWith('legacy', server);
      const s = await h.session(gateway);
      expect(s.client.getInstructions()).toContain(`## ${server}\n\n${instructions}`);
      expect((await s.client.listTools()).tools.map((x) => x.name)).not.toContain(`${server}__grown1`);
      const before = methods(s.received).filter((m) => m === 'notifications/tools/list_changed').length;
      expect(textOf(await s.client.callTool({ name: `${server}__grow`, arguments: {} }))).toBe('grew 1');
      await waitFor(() => (methods(s.received).filter((m) => m === 'notifications/tools/list_changed').length > before ? true : undefined), {
        what: 'tools/list_changed',
      });
      await waitFor(async () => ((await s.client.listTools()).tools.some((x) => x.name === `${server}__grown1`) ? true : undefined), { what: 'the new tool' });
    });
  }
});

describe('a 2026-07-28 session', () => {
  for (const { server, era, instructions } of SERVERS) {
    it(`hears a ${era} server's tools/list_changed and resource updates on its listen, its log messages at the level a request names, and has its instructions in server/discover`, async () => {
      const gateway = await gatewayWith('modern', server);
      const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
      const sdkServer = new Server({ name: 'exai', version: 'test' }, { capabilities: GATEWAY_SERVER_CAPABILITIES });
      sdkServer.onclose = await gateway.connect(sdkServer, new EraTransport(serverSide), [echoBuiltin]);
      const got: Message[] = [];
      clientSide.onmessage = (m: JSONRPCMessage) => void got.push(m as Message);
      await clientSide.start();
      cleanups.push(() => clientSide.close());
      let id = 0;
      const send = (method: string, params: Record<string, unknown> = {}, meta: Record<string, unknown> = {}) => {
        const mine = ++id;
        void clientSide.send({ jsonrpc: '2.0', id: mine, method, params: { ...params, _meta: { ...ENVELOPE, ...meta } } } as JSONRPCMessage);
        return mine;
      };
      const ask = (method: string, params?: Record<string, unknown>, meta?: Record<string, unknown>) => {
        const mine = send(method, params, meta);
        return waitFor(() => got.find((m) => m.id === mine && m.method === undefined), { what: `the answer to ${method}` });
      };
      const discover = await ask('server/discover');
      expect(discover.result?.instructions).toContain(`## ${server}\n\n${instructions}`);
      const listen = send('subscriptions/listen', { notifications: { toolsListChanged: true, resourceSubscriptions: ['fx://counter'] } });
      await waitFor(() => got.find((m) => m.method === 'notifications/subscriptions/acknowledged'), { what: 'the listen acknowledged' });
      const toolNames = async () => ((await ask('tools/list')).result!.tools as { name: string }[]).map((x) => x.name);
      expect(await toolNames()).not.toContain(`${server}__grown1`);
      expect(textOf((await ask('tools/call', { name: `${server}__grow`, arguments: {} })).result!)).toBe('grew 1');
      const heard = await waitFor(() => got.find((m) => m.method === 'notifications/tools/list_changed'), { what: 'tools/list_changed on the listen' });
      expect(heard.params?._meta).toMatchObject({ 'io.modelcontextprotocol/subscriptionId': listen });
      await waitFor(async () => ((await toolNames()).includes(`${server}__grown1`) ? true : undefined), { what: 'the new tool' });

      // Subscription updates, on the same listen.
      await ask('tools/call', { name: `${server}__bump`, arguments: {} });
      const updated = await waitFor(() => got.find((m) => m.method === 'notifications/resources/updated'), { what: 'the resource update' });
      expect(updated.params).toMatchObject({ uri: 'fx://counter', _meta: { 'io.modelcontextprotocol/subscriptionId': listen } });

      // Log level: per request (the fixture logs at info).
      const logged = () => got.filter((m) => m.method === 'notifications/message').map((m) => String(m.params?.data));
      await ask('tools/call', { name: `${server}__log`, arguments: { message: 'at-error' } }, { 'io.modelcontextprotocol/logLevel': 'error' });
      await ask('tools/call', { name: `${server}__log`, arguments: { message: 'at-info' } }, { 'io.modelcontextprotocol/logLevel': 'info' });
      await waitFor(() => (logged().includes('at-info') ? true : undefined), { what: 'the info message' });
      expect(logged()).toEqual(['at-info']);
    });
  }
});
