/**
 * Hostile input against a real daemon process run by pm2 (spawned with the CLI), with one
 * well-behaved "bystander" session open throughout that must keep working, and the daemon's
 * RSS read from /proc before and after. Declared once, run at two sizes: the always-run
 * subset (test/reliability/hostile.test.ts) and the stress run (test/stress/hostile.test.ts).
 */
import type { Socket } from 'node:net';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getHealth } from '../helpers/daemon.js';
import { makeTestEnv, spawnJson, type TestEnv } from '../helpers/env.js';
import { connectClient, handshake, RawSession } from '../helpers/mcp-client.js';
import { MAX_PAYLOAD } from '../../src/transport/ws-server.js';
import type { ExaiStatus as Status } from '../../src/daemon/builtins.js';
import {
  closeCode,
  listJson,
  malformedFlood,
  mb,
  note,
  PROTOCOL_ABUSE,
  rawConnect,
  rawUpgrade,
  rssKb,
  serverClosed,
  tokenOf,
  type SpawnJson,
} from './support.js';

export interface HostileSizes {
  /** Refused handshakes in one burst. */
  handshakes: number;
  /** Rounds over every protocol-level abuse variant (one connection each). */
  protocolRounds: number;
  /** Malformed JSON-RPC-level messages per flood round (two rounds). */
  malformed: number;
  /** Handshakes that never finish, held open at once. */
  slowloris: number;
  /** Also run the JSON-RPC hostile-input tests (always-run suite only). */
  jsonrpc: boolean;
}

export function defineHostileSuite(sizes: HostileSizes): void {
  let t: TestEnv;
  let d: SpawnJson;
  let token: string;
  let bystander: Client;
  let baselineKb = 0;

  async function bystanderOk(): Promise<void> {
    const result = await bystander.callTool({ name: 'exai_status', arguments: {} });
    expect((result.structuredContent as unknown as Status).pid).toBe(d.pid);
  }

  beforeAll(async () => {
    t = makeTestEnv();
    d = await spawnJson(t.env, t.workspace('hostile'));
    token = tokenOf(t, d.id);
    bystander = await connectClient(d.port, token, 'bystander');
    for (let i = 0; i < 20; i++) await bystanderOk();
    baselineKb = rssKb(d.pid);
  });
  afterAll(async () => {
    await bystander?.close().catch(() => undefined);
    await t.cleanup();
  });

  describe('hostile WebSocket input', () => {
    it(`[H1] ${sizes.handshakes} hostile handshakes (no token, wrong token, token in the URL, foreign Origin, foreign Host, no subprotocol): none upgraded, none echoes the token; the bystander keeps working`, async (ctx) => {
      const auth = { Authorization: `Bearer ${token}` };
      const variants: { what: string; headers: Record<string, string>; path?: string; expect: number }[] = [
        { what: 'no token', headers: {}, expect: 401 },
        { what: 'wrong token', headers: { Authorization: `Bearer ${'f'.repeat(64)}` }, expect: 401 },
        { what: 'token one character short', headers: { Authorization: `Bearer ${token.slice(0, -1)}` }, expect: 401 },
        { what: 'Basic instead of Bearer', headers: { Authorization: `Basic ${Buffer.from(`x:${token}`).toString('base64')}` }, expect: 401 },
        { what: 'token in the query string', headers: {}, path: `/mcp?token=${token}`, expect: 401 },
        { what: 'foreign Origin, right token', headers: { ...auth, Origin: 'https://evil.example' }, expect: 403 },
        { what: 'Origin null, right token', headers: { ...auth, Origin: 'null' }, expect: 403 },
        { what: 'Origin localhost.evil.example', headers: { ...auth, Origin: 'http://localhost.evil.example' }, expect: 403 },
        { what: 'foreign Host, right token', headers: { ...auth, Host: `evil.example:${d.port}` }, expect: 403 },
        { what: 'loopback Host, other port', headers: { ...auth, Host: `127.0.0.1:${d.port + 1}` }, expect: 403 },
        { what: 'no mcp subprotocol', headers: { ...auth, 'Sec-WebSocket-Protocol': 'chat' }, expect: 400 },
      ];
      const seen = new Map<string, number>();
      const attempts = Array.from({ length: sizes.handshakes }, (_, i) => variants[i % variants.length]!);
      const results = await Promise.all(attempts.map((v) => handshake(d.port, v.headers, v.path ?? '/mcp').then((res) => ({ v, res }))));
      for (const { v, res } of results) {
        expect(res.status, v.what).toBe(v.expect);
        expect(res.body).not.toContain(token);
        seen.set(`${v.expect}`, (seen.get(`${v.expect}`) ?? 0) + 1);
      }
      await bystanderOk();
      expect((await handshake(d.port, auth)).status).toBe(101);
      note(ctx, `${results.length} refused handshakes over ${variants.length} variants: ${[...seen].map(([s, n]) => `${n} x ${s}`).join(', ')}; 0 upgraded, token never in a response; the right token still upgrades; bystander unaffected`);
    });

    it('[H1] oversized frames (a real frame 1 KB over the 32 MB limit; a header claiming 2^62 bytes) close only that connection with 1009; the bystander keeps working', async (ctx) => {
      const victim = await RawSession.open(d.port, token);
      victim.send('x'.repeat(MAX_PAYLOAD + 1024));
      expect((await victim.closed).code).toBe(1009);
      const claim = await rawUpgrade(d.port, token);
      claim.socket.write(PROTOCOL_ABUSE.find((a) => a.what.includes('2^62'))!.bytes());
      expect(closeCode(await claim.closed)).toBe(1009);
      await bystanderOk();
      note(ctx, `a text frame of ${MAX_PAYLOAD + 1024} bytes (limit ${MAX_PAYLOAD}) and a 2^62-byte length claim: both closed with 1009; bystander unaffected; RSS now ${mb(rssKb(d.pid))} (baseline ${mb(baselineKb)})`);
    });

    it(`[H1] protocol-level malformed frames (${PROTOCOL_ABUSE.length} kinds x ${sizes.protocolRounds}): each drops only its own connection with the right close code`, async (ctx) => {
      const codes = new Map<number | undefined, number>();
      for (let round = 0; round < sizes.protocolRounds; round++) {
        await Promise.all(
          PROTOCOL_ABUSE.map(async (abuse) => {
            const conn = await rawUpgrade(d.port, token);
            conn.socket.write(abuse.bytes());
            const code = closeCode(await conn.closed);
            expect(abuse.expect, `${abuse.what}: close code ${code}`).toContain(code);
            codes.set(code, (codes.get(code) ?? 0) + 1);
          }),
        );
      }
      await bystanderOk();
      note(ctx, `${PROTOCOL_ABUSE.length * sizes.protocolRounds} connections (${PROTOCOL_ABUSE.map((a) => a.what).join('; ')}): closed with ${[...codes].map(([c, n]) => `${n} x ${c}`).join(', ')}; bystander unaffected`);
    });

    it(`[H1] ${sizes.malformed} malformed messages, twice, on one session: each gets a well-formed JSON-RPC error, the session stays usable, and RSS does not grow with the count`, async (ctx) => {
      const s = await RawSession.open(d.port, token);
      await s.initialize();
      const first = await malformedFlood(s, sizes.malformed);
      const afterFirst = rssKb(d.pid);
      const second = await malformedFlood(s, sizes.malformed);
      const afterSecond = rssKb(d.pid);
      await s.close();
      await bystanderOk();
      expect(first.errors + second.errors).toBe(2 * sizes.malformed);
      // Generous: a leak proportional to the frames would show as growth in the second round.
      expect(afterSecond - afterFirst).toBeLessThan(48 * 1024);
      note(ctx, `${2 * sizes.malformed} malformed messages (12 kinds: not JSON, empty, null, batches, wrong version, object id, binary, 64 KB string, 5,000-deep array, numeric method, control chars): ${first.errors + second.errors} well-formed error replies, session usable after each round`);
      note(ctx, `daemon RSS: baseline ${mb(baselineKb)}, after round 1 ${mb(afterFirst)}, after round 2 ${mb(afterSecond)} (growth in round 2: ${mb(afterSecond - afterFirst)}; bound 48 MB)`);
    });

    it(`[H1] slowloris: ${sizes.slowloris} handshakes that never finish, and as many silent connections, are dropped by the daemon; new sessions open and work meanwhile`, async (ctx) => {
      const dribblers: Socket[] = [];
      const timers: NodeJS.Timeout[] = [];
      const started = Date.now();
      const drops: Promise<number>[] = [];
      for (let i = 0; i < sizes.slowloris; i++) {
        const socket = await rawConnect(d.port);
        dribblers.push(socket);
        drops.push(serverClosed(socket).then(() => Date.now() - started));
        socket.write(`GET /mcp HTTP/1.1\r\nHost: 127.0.0.1:${d.port}\r\n`);
        // One more header byte every second: never finishing, never idle.
        timers.push(setInterval(() => socket.writable && socket.write('X'), 1_000));
        const silent = await rawConnect(d.port);
        dribblers.push(silent);
        drops.push(serverClosed(silent).then(() => Date.now() - started));
      }
      try {
        // While they hang: a fresh session opens and works, and the bystander too.
        const fresh = await connectClient(d.port, token, 'during-slowloris');
        const status = (await fresh.callTool({ name: 'exai_status', arguments: {} })).structuredContent as unknown as Status;
        expect(status.pid).toBe(d.pid);
        await fresh.close();
        await bystanderOk();
        const times = await Promise.race([
          Promise.all(drops),
          new Promise<never>((_, reject) => setTimeout(() => reject(new Error('slowloris connections still open after 60 s')), 60_000)),
        ]);
        note(ctx, `${sizes.slowloris} dribbling handshakes + ${sizes.slowloris} silent connections: all dropped by the daemon after ${(Math.min(...times) / 1000).toFixed(1)}-${(Math.max(...times) / 1000).toFixed(1)} s (headers timeout 10 s); a new session opened and worked meanwhile`);
      } finally {
        for (const timer of timers) clearInterval(timer);
        for (const s of dribblers) s.destroy();
      }
    }, 90_000);

    it('[H1] after all of the above: the daemon never restarted and its memory stayed bounded', async (ctx) => {
      await bystanderOk();
      const health = await getHealth(d.port);
      expect(health.pid).toBe(d.pid);
      const row = (await listJson(t)).find((r) => r.id === d.id)!;
      expect(row.restarts).toBe(0);
      const now = rssKb(d.pid);
      expect(now - baselineKb).toBeLessThan(160 * 1024);
      note(ctx, `same pid ${d.pid}, pm2 restarts 0; RSS ${mb(baselineKb)} before the hostile tests, ${mb(now)} after (bound: +160 MB, the 32 MB frame included)`);
    });
  });

  if (!sizes.jsonrpc) return;

  describe('hostile JSON-RPC', () => {
    let s: RawSession;
    beforeAll(async () => {
      s = await RawSession.open(d.port, token);
      await s.initialize();
    });
    afterAll(async () => {
      await s?.close();
    });

    type Frame = { jsonrpc?: string; id?: unknown; result?: Record<string, unknown>; error?: { code: number; message: string } };
    const framesSince = (n: number) => s.frames.slice(n) as Frame[];
    async function alive(tag: string): Promise<void> {
      expect(await s.request(`alive-${tag}`, 'ping')).toMatchObject({ result: {} });
    }
    /** Sends raw text frames and waits until `count` new frames arrived (plus a ping to flush). */
    async function sendAll(texts: string[], count: number): Promise<Frame[]> {
      const start = s.frames.length;
      for (const text of texts) s.send(text);
      await s.waitFor(() => s.frames.length - start >= count);
      await alive(`flush-${start}`);
      return framesSince(start).filter((f) => typeof f.id !== 'string' || !f.id.startsWith('alive-flush-'));
    }

    it('[H2] batch arrays (one request, empty, nested, 1,000 requests) get one -32600 error each with id null; nothing inside is executed', async (ctx) => {
      const many = Array.from({ length: 1_000 }, (_, i) => ({ jsonrpc: '2.0', id: `in-batch-${i}`, method: 'ping' }));
      const texts = [
        JSON.stringify([{ jsonrpc: '2.0', id: 'in-batch-one', method: 'ping' }]),
        '[]',
        JSON.stringify([[{ jsonrpc: '2.0', id: 'in-batch-nested', method: 'ping' }]]),
        JSON.stringify(many),
      ];
      const replies = await sendAll(texts, texts.length);
      expect(replies).toHaveLength(texts.length);
      for (const r of replies) expect(r).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32600 } });
      expect(s.frames.some((f) => String((f as Frame).id).startsWith('in-batch'))).toBe(false);
      note(ctx, `${texts.length} batches (1, 0, nested, 1,000 requests): ${replies.length} replies, all -32600 with id null; none of the 1,002 requests inside was answered (not executed)`);
    });

    it('[H2] huge and odd ids are answered under exactly that id; ids of a wrong type get -32600; duplicate ids in flight each get a reply', async (ctx) => {
      const bigString = 'i'.repeat(64 * 1024);
      const echoed: { raw: string; expectId: unknown }[] = [
        { raw: '9007199254740993', expectId: 9007199254740992 }, // 2^53+1: JSON numbers are doubles on both ends
        { raw: '1e308', expectId: 1e308 },
        { raw: '-42', expectId: -42 },
        { raw: '0', expectId: 0 },
        { raw: JSON.stringify(bigString), expectId: bigString },
        { raw: JSON.stringify('ид-🦄-\u0000-"quoted"'), expectId: 'ид-🦄-\u0000-"quoted"' },
        { raw: '"__proto__"', expectId: '__proto__' },
        { raw: '"constructor"', expectId: 'constructor' },
        { raw: '""', expectId: '' },
      ];
      const start = s.frames.length;
      for (const e of echoed) s.send(`{"jsonrpc":"2.0","id":${e.raw},"method":"ping"}`);
      await s.waitFor(() => s.frames.length - start >= echoed.length);
      const replies = framesSince(start);
      for (const e of echoed) {
        const reply = replies.find((r) => r.id === e.expectId);
        expect(reply, `reply for id ${e.raw.slice(0, 40)}`).toBeDefined();
        expect(reply!.result ?? reply!.error).toBeDefined();
      }
      const wrongTypes = ['1.5', 'true', 'null', '{"a":1}', '[1]'];
      const wrong = await sendAll(wrongTypes.map((raw) => `{"jsonrpc":"2.0","id":${raw},"method":"ping"}`), wrongTypes.length);
      expect(wrong).toHaveLength(wrongTypes.length);
      for (const r of wrong) {
        expect(r.jsonrpc).toBe('2.0');
        expect(r.error?.code).toBe(-32600);
      }
      const dupStart = s.frames.length;
      s.send({ jsonrpc: '2.0', id: 'twice', method: 'ping' });
      s.send({ jsonrpc: '2.0', id: 'twice', method: 'tools/call', params: { name: 'exai_status', arguments: {} } });
      await s.waitFor(() => framesSince(dupStart).filter((f) => f.id === 'twice').length >= 2);
      await alive('ids');
      note(ctx, `${echoed.length} odd ids (2^53+1, 1e308, negative, 0, 64 KB string, unicode with NUL, "__proto__", "constructor", "") answered under the same id; ids 1.5, true, null, object, array: -32600; a duplicate id in flight got both replies`);
    });

    it('[H2] wrong types (method, params, jsonrpc, tool name, arguments) get well-formed errors, no crash', async (ctx) => {
      const cases: [string, unknown][] = [
        ['method a number', { jsonrpc: '2.0', id: 'w1', method: 42 }],
        ['method null', { jsonrpc: '2.0', id: 'w2', method: null }],
        ['method an array', { jsonrpc: '2.0', id: 'w3', method: ['ping'] }],
        ['params a string', { jsonrpc: '2.0', id: 'w4', method: 'ping', params: 'x' }],
        ['params a number', { jsonrpc: '2.0', id: 'w5', method: 'tools/list', params: 5 }],
        ['params an array', { jsonrpc: '2.0', id: 'w6', method: 'tools/call', params: ['exai_status'] }],
        ['jsonrpc "1.0"', { jsonrpc: '1.0', id: 'w7', method: 'ping' }],
        ['no jsonrpc member', { id: 'w8', method: 'ping' }],
        ['tool name a number', { jsonrpc: '2.0', id: 'w9', method: 'tools/call', params: { name: 7, arguments: {} } }],
        ['arguments an array', { jsonrpc: '2.0', id: 'w10', method: 'tools/call', params: { name: 'exai_status', arguments: [1, 2] } }],
        ['cursor an object', { jsonrpc: '2.0', id: 'w11', method: 'tools/list', params: { cursor: { x: 1 } } }],
        ['both result and error', { jsonrpc: '2.0', id: 'w12', result: {}, error: { code: 1, message: 'x' } }],
      ];
      const codes: string[] = [];
      for (const [what, frame] of cases) {
        const start = s.frames.length;
        s.send(JSON.stringify(frame));
        await alive(`types-${codes.length}`);
        const replies = framesSince(start).filter((f) => !String(f.id).startsWith('alive-'));
        for (const r of replies) {
          expect(r.jsonrpc, what).toBe('2.0');
          expect(r.error ?? r.result, what).toBeDefined();
          if (r.error) expect(typeof r.error.message, what).toBe('string');
        }
        codes.push(`${what}: ${replies.map((r) => r.error?.code ?? 'result').join('/') || 'no reply'}`);
      }
      note(ctx, codes.join('; '));
    });

    it('[H2] unknown methods get -32601 (including prototype names and a 10 KB name); unknown notifications get no reply', async (ctx) => {
      const names = ['foo/bar', '', 'rpc.discover', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'tools/call/extra', 'm'.repeat(10_240)];
      const replies = await sendAll(
        names.map((method, i) => JSON.stringify({ jsonrpc: '2.0', id: `u${i}`, method })),
        names.length,
      );
      expect(replies).toHaveLength(names.length);
      for (const r of replies) expect(r.error?.code, JSON.stringify(r).slice(0, 200)).toBe(-32601);
      const quiet = await sendAll(names.map((method) => JSON.stringify({ jsonrpc: '2.0', method: `notifications/${method}` })), 0);
      expect(quiet).toEqual([]);
      note(ctx, `${names.length} unknown methods (foo/bar, "", rpc.discover, __proto__, constructor, toString, hasOwnProperty, tools/call/extra, 10 KB name): all -32601; the same as notifications: no reply at all`);
    });

    it('[H2] deeply nested params (10,000-deep objects, 100,000-deep arrays, 10,000-deep tool arguments) get well-formed replies; session and daemon fine', async (ctx) => {
      const deepObject = '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000);
      const deepArray = '['.repeat(100_000) + ']'.repeat(100_000);
      const texts = [
        `{"jsonrpc":"2.0","id":"deep-1","method":"ping","params":${deepObject}}`,
        `{"jsonrpc":"2.0","id":"deep-2","method":"tools/list","params":{"cursor":${deepArray}}}`,
        `{"jsonrpc":"2.0","id":"deep-3","method":"tools/call","params":{"name":"exai_status","arguments":{"x":${deepObject}}}}`,
        `{"jsonrpc":"2.0","id":"deep-4","method":"tools/call","params":{"name":"nope","arguments":{"x":${deepArray}}}}`,
      ];
      const replies = await sendAll(texts, texts.length);
      const kinds: string[] = [];
      for (const r of replies) {
        expect(r.jsonrpc).toBe('2.0');
        expect(r.result ?? r.error).toBeDefined();
        kinds.push(`${String(r.id)}: ${r.error ? r.error.code : 'result'}`);
      }
      expect(replies).toHaveLength(texts.length);
      expect((await getHealth(d.port)).pid).toBe(d.pid);
      note(ctx, `4 frames with 10,000-deep objects / 100,000-deep arrays in params and tool arguments: ${kinds.join(', ')}; daemon pid unchanged`);
    });

    it('[H2] unsolicited responses and requests before initialize: no crash, the session stays usable', async (ctx) => {
      const start = s.frames.length;
      s.send({ jsonrpc: '2.0', id: 'never-asked', result: { hello: 1 } });
      s.send({ jsonrpc: '2.0', id: 12345, error: { code: -1, message: 'nobody asked' } });
      await alive('unsolicited');
      expect(framesSince(start).filter((f) => !String(f.id).startsWith('alive-'))).toEqual([]);
      const early = await RawSession.open(d.port, token);
      const reply = (await early.request('early', 'tools/call', { name: 'exai_status', arguments: {} })) as Frame;
      expect(reply.jsonrpc).toBe('2.0');
      await early.close();
      await bystanderOk();
      expect((await getHealth(d.port)).pid).toBe(d.pid);
      const row = (await listJson(t)).find((r) => r.id === d.id)!;
      expect(row.restarts).toBe(0);
      note(ctx, `responses to requests never sent: ignored (no reply); a tools/call before initialize: ${reply.error ? `error ${reply.error.code}` : 'answered'}; daemon never restarted (pm2 restarts 0)`);
    });
  });
}
