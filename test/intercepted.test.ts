/**
 * The session side's interception (src/transport/intercepted.ts): the gateway sees a session's
 * messages through hooks, as it sees an upstream's through ChildProcessTransport's `intercept`,
 * and the transport's callbacks are chained, never replaced. Real SDK v2 Server and v1 client
 * over an in-memory pair.
 */
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { Server, type JSONRPCMessage } from '@modelcontextprotocol/server';
import { describe, expect, it } from 'vitest';
import { InterceptedTransport } from '../src/transport/intercepted.js';

describe('InterceptedTransport', () => {
  it('lets the hook take a request before the Server, rewrite what the Server sends, and keeps the callbacks already set', async () => {
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    const seenBefore: string[] = [];
    serverSide.onmessage = (message: JSONRPCMessage) => void ('method' in message && seenBefore.push(message.method));
    const hooked = new InterceptedTransport(serverSide, {
      intercept: (message) => {
        if (!('method' in message) || message.method !== 'tools/call' || !('id' in message)) return false;
        void hooked.send({ jsonrpc: '2.0', id: message.id, result: { content: [{ type: 'text', text: 'taken by the hook' }] } });
        return true;
      },
      outgoing: (message) =>
        'result' in message && Array.isArray((message.result as { tools?: unknown }).tools)
          ? Promise.resolve({ ...message, result: { ...message.result, tools: [...(message.result as { tools: object[] }).tools, { name: 'added', inputSchema: { type: 'object' } }] } })
          : message,
    });
    const server = new Server({ name: 'hooked', version: '1' }, { capabilities: { tools: {} } });
    server.setRequestHandler('tools/list', async () => ({ tools: [{ name: 'own', inputSchema: { type: 'object' } }] }));
    server.setRequestHandler('tools/call', async () => ({ content: [{ type: 'text', text: 'answered by the Server' }] }));
    await server.connect(hooked);
    const client = new Client({ name: 'c', version: '1' });
    await client.connect(clientSide);

    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['own', 'added']);
    const called = await client.callTool({ name: 'own', arguments: {} });
    expect((called.content as { text: string }[])[0]?.text).toBe('taken by the hook');
    // The callback set before the Server connected still sees every message.
    expect(seenBefore).toEqual(['initialize', 'notifications/initialized', 'tools/list', 'tools/call']);
    let closed = false;
    server.onclose = () => (closed = true);
    await client.close();
    expect(closed).toBe(true);
  });
});
