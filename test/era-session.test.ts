/**
 * The era rules of a session (src/daemon/era-session.ts, DESIGN.md "Protocol eras"), at the
 * JSON-RPC level below any SDK client: the opening message picks the era, a 2026-07-28 session
 * is answered in 2026-07-28 terms and refuses other versions with -32022, a 2025 one is untouched.
 * A real in-process gateway with its SDK Server per session.
 */
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
// The daemon's sessions run on the v2 SDK's Server; the clients stay v1 (the 2025 client).
import { Server } from '@modelcontextprotocol/server';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { EraTransport, protocolOfOpening } from '../src/daemon/era-session.js';
import { GATEWAY_SERVER_CAPABILITIES, type Gateway } from '../src/daemon/upstreams/gateway.js';
import { waitFor } from './helpers/env.js';
import { echoBuiltin, gatewayTestFile } from './upstreams-helpers.js';

const { h, cleanups, env } = gatewayTestFile();

const envelope = (version = '2026-07-28') => ({
  'io.modelcontextprotocol/protocolVersion': version,
  'io.modelcontextprotocol/clientCapabilities': { elicitation: {} },
  'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' },
});

/** A raw JSON-RPC peer on one session: send a request, get its answer. */
async function rawSession(gateway: Gateway): Promise<{ ask(method: string, params?: Record<string, unknown>): Promise<Record<string, unknown>>; era: () => string }> {
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  const era = new EraTransport(serverSide);
  const server = new Server({ name: 'exai', version: 'test' }, { capabilities: GATEWAY_SERVER_CAPABILITIES });
  server.onclose = await gateway.connect(server, era, [echoBuiltin]);
  const answers = new Map<number, Record<string, unknown>>();
  clientSide.onmessage = (message: JSONRPCMessage) => {
    if ('id' in message && !('method' in message)) answers.set(message.id as number, message as unknown as Record<string, unknown>);
  };
  await clientSide.start();
  cleanups.push(() => clientSide.close());
  let id = 0;
  return {
    era: () => era.era,
    async ask(method, params) {
      const mine = ++id;
      await clientSide.send({ jsonrpc: '2.0', id: mine, method, ...(params ? { params } : {}) } as JSONRPCMessage);
      return waitFor(() => answers.get(mine), { what: `the answer to ${method}` });
    },
  };
}

describe('the era of a session', () => {
  it('server/discover opens a 2026-07-28 session: discover, lists with cache hints, calls marked complete', async () => {
    const gateway = h.startGateway(env().workspace('era-raw-modern'));
    const s = await rawSession(gateway);
    const discover = await s.ask('server/discover', { _meta: envelope() });
    expect(s.era()).toBe('modern');
    expect(discover.result).toMatchObject({ supportedVersions: ['2026-07-28'], resultType: 'complete', capabilities: { tools: { listChanged: true } } });
    expect((discover.result as { capabilities: object }).capabilities).not.toHaveProperty('tasks');
    const list = await s.ask('tools/list', { _meta: envelope() });
    expect(list.result).toMatchObject({ ttlMs: 0, cacheScope: 'private', resultType: 'complete' });
    expect((list.result as { tools: { name: string }[] }).tools.map((tool) => tool.name)).toContain('exai_status');
    const call = await s.ask('tools/call', { name: 'exai_status', arguments: {}, _meta: envelope() });
    expect(call.result).toMatchObject({ resultType: 'complete', content: [{ type: 'text', text: 'built-in ok' }] });
  });

  it('a request with the protocol-version _meta opens one too; another version gets -32022 naming the supported one', async () => {
    const gateway = h.startGateway(env().workspace('era-raw-meta'));
    const s = await rawSession(gateway);
    const list = await s.ask('tools/list', { _meta: envelope() });
    expect(s.era()).toBe('modern');
    expect(list.result).toMatchObject({ resultType: 'complete' });
    const refused = await s.ask('tools/list', { _meta: envelope('2099-01-01') });
    expect(refused.error).toMatchObject({ code: -32022, data: { supported: ['2026-07-28'], requested: '2099-01-01' } });
  });

  it('an opening that names a revision exai does not speak gets -32022 and opens nothing: initialize after it gets a clean 2025 session', async () => {
    const gateway = h.startGateway(env().workspace('era-raw-refused'));
    const s = await rawSession(gateway);
    const refused = await s.ask('server/discover', { _meta: envelope('2099-01-01') });
    expect(refused.error).toMatchObject({ code: -32022, data: { supported: ['2026-07-28'], requested: '2099-01-01' } });
    expect(s.era()).toBe('undecided');
    const init = await s.ask('initialize', { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } });
    expect(s.era()).toBe('legacy');
    expect(init.result).toMatchObject({ protocolVersion: '2025-11-25' });
    expect(init.result).not.toHaveProperty('resultType');
    const list = await s.ask('tools/list');
    expect(list.result).not.toHaveProperty('ttlMs');
  });

  it('initialize opens a 2025-11-25 session, answered as before even when later requests carry 2026 _meta', async () => {
    const gateway = h.startGateway(env().workspace('era-raw-legacy'));
    const s = await rawSession(gateway);
    const init = await s.ask('initialize', { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } });
    expect(s.era()).toBe('legacy');
    expect(init.result).toMatchObject({ protocolVersion: '2025-11-25', serverInfo: { name: 'exai' } });
    const list = await s.ask('tools/list', { _meta: envelope() });
    expect(list.result).not.toHaveProperty('resultType');
    expect(list.result).not.toHaveProperty('ttlMs');
  });

  it('the revision a session is counted under (exai_status sessionsByProtocol): what its opening asked for, never a refused one', () => {
    const request = (method: string, params?: Record<string, unknown>) => ({ jsonrpc: '2.0' as const, id: 1, method, ...(params ? { params } : {}) });
    expect(protocolOfOpening(request('initialize', { protocolVersion: '2025-06-18', capabilities: {} }))).toBe('2025-06-18');
    expect(protocolOfOpening(request('server/discover'))).toBe('2026-07-28');
    expect(protocolOfOpening(request('tools/list', { _meta: envelope() }))).toBe('2026-07-28');
    expect(protocolOfOpening(request('server/discover', { _meta: envelope('2099-01-01') }))).toBeUndefined();
    expect(protocolOfOpening(request('tools/list'))).toBeUndefined();
    expect(protocolOfOpening({ jsonrpc: '2.0', method: 'notifications/initialized' })).toBeUndefined();
  });
});
