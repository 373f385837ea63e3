/**
 * Sessions of both MCP eras through exai (issue 20, DESIGN.md "Protocol eras"): the SDK v2
 * client pinned to 2026-07-28 and in `auto`, and the v1 client (2025-11-25), each launched
 * from the `.vscode/mcp.json` exai wrote with a strict client's environment, against upstreams
 * of both eras (SDK v2 fixtures and server-everything). Real pm2, daemon, shim and servers.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UpstreamStatus } from '../src/daemon/upstreams/upstream.js';
import { makeTestEnv, runCli, waitFor, type TestEnv } from './helpers/env.js';
import { connectStrict, exaiStatus, writtenEntry } from './helpers/strict-client.js';
import { connectV2 as connectV2At, dualEntry, modernEntry, type Mode } from './helpers/eras.js';
import { everythingEntry, textOf, writeServers } from './upstreams-helpers.js';

let t: TestEnv;
let ws: string;
let home: string;
beforeAll(async () => {
  t = makeTestEnv();
  ws = t.workspace('eras-sessions');
  home = join(t.dir, 'client-home');
  writeServers(ws, { modern: modernEntry(), dual: dualEntry(), everything: everythingEntry(), old: dualEntry({ protocol: '2025-11-25' }) });
  const res = await runCli(['spawn', '--workspace', ws, '--json'], t.env);
  expect(res.code, res.stderr).toBe(0);
});
afterAll(async () => {
  await t.cleanup();
});

const connectV2 = (mode: Mode, onElicit?: Parameters<typeof connectV2At>[3], onSampling?: Parameters<typeof connectV2At>[4]) =>
  connectV2At(ws, home, mode, onElicit, onSampling);

const UPSTREAM_TOOLS = ['modern__echo', 'dual__echo', 'everything__echo'];

describe('sessions of both eras', () => {
  for (const mode of [{ pin: '2026-07-28' }, 'auto'] as Mode[]) {
    it(`a v2 client (${JSON.stringify(mode)}) gets a 2026-07-28 session: it lists and calls built-in and upstream tools of both eras`, async () => {
      const c = await connectV2(mode);
      try {
        expect(c.client.getProtocolEra()).toBe('modern');
        expect(c.client.getNegotiatedProtocolVersion()).toBe('2026-07-28');
        expect(c.client.getInstructions()).toContain('modern-fixture instructions');
        const names = (await c.client.listTools()).tools.map((tool) => tool.name);
        expect(names).toEqual(expect.arrayContaining(['exai_status', ...UPSTREAM_TOOLS]));
        const status = await c.client.callTool({ name: 'exai_status', arguments: {} });
        const upstreams = (status.structuredContent as { upstreams: UpstreamStatus[] }).upstreams;
        expect(Object.fromEntries(upstreams.map((u) => [u.name, u.protocol]))).toEqual({ modern: '2026-07-28', dual: '2026-07-28', everything: '2025-11-25', old: '2025-11-25' });
        expect(textOf(await c.client.callTool({ name: 'modern__echo', arguments: { text: 'm' } }))).toBe('modern-fixture (modern) echo: m');
        expect(textOf(await c.client.callTool({ name: 'everything__echo', arguments: { message: 'e' } }))).toContain('e');
      } finally {
        await c.close();
      }
    });
  }

  it('a 2025 client (SDK v1) still gets a 2025-11-25 session, with the 2026-07-28-only server tools in it', async () => {
    const s = await connectStrict(writtenEntry(ws), home);
    try {
      expect(s.client.getServerVersion()?.name).toBe('exai');
      const names = (await s.client.listTools()).tools.map((tool) => tool.name);
      expect(names).toEqual(expect.arrayContaining(['exai_status', ...UPSTREAM_TOOLS]));
      expect(textOf(await s.client.callTool({ name: 'modern__echo', arguments: { text: 'old' } }))).toBe('modern-fixture (modern) echo: old');
      expect(textOf(await s.client.callTool({ name: 'dual__echo', arguments: { text: 'old' } }))).toBe('dual-fixture (modern) echo: old');
      const status = await exaiStatus(s.client);
      expect(status.sessions).toBeGreaterThanOrEqual(1);
    } finally {
      await s.close();
    }
  });

  it('a 2026-07-28 session and a 2025 one side by side call the same upstream', async () => {
    const [modern, legacy] = await Promise.all([connectV2({ pin: '2026-07-28' }), connectStrict(writtenEntry(ws), home)]);
    try {
      const [a, b] = await Promise.all([
        modern.client.callTool({ name: 'dual__echo', arguments: { text: 'new' } }),
        legacy.client.callTool({ name: 'dual__echo', arguments: { text: 'old' } }),
      ]);
      expect(textOf(a)).toBe('dual-fixture (modern) echo: new');
      expect(textOf(b)).toBe('dual-fixture (modern) echo: old');
      // exai_status tells which revision each open session speaks (README's client table rests on it).
      const status = await modern.client.callTool({ name: 'exai_status', arguments: {} });
      const protocols = (status.structuredContent as { sessionsByProtocol: { protocolVersion: string; sessions: number }[] }).sessionsByProtocol;
      // (A session of an earlier test may still be closing: count the revisions, not sessions.)
      expect(protocols.map((p) => p.protocolVersion)).toEqual(['2026-07-28', '2025-11-25']);
    } finally {
      await Promise.all([modern.close(), legacy.close()]);
    }
  });

  it('a 2026-07-28 client goes on after the daemon restarts, with nothing to replay', async () => {
    const c = await connectV2({ pin: '2026-07-28' });
    try {
      const before = await c.client.callTool({ name: 'exai_status', arguments: {} });
      const pidBefore = (before.structuredContent as { pid: number }).pid;
      const res = await runCli(['restart', '--workspace', ws, '--json'], t.env);
      expect(res.code, res.stderr).toBe(0);
      // The shim reconnects to the new daemon; the next request opens a 2026-07-28 session there.
      const after = await c.client.callTool({ name: 'exai_status', arguments: {} });
      expect((after.structuredContent as { pid: number }).pid).not.toBe(pidBefore);
      expect(textOf(await c.client.callTool({ name: 'modern__echo', arguments: { text: 'again' } }))).toBe('modern-fixture (modern) echo: again');
      expect(c.stderr()).not.toMatch(/replayed/);
    } finally {
      await c.close();
    }
  });

  it("a 2026-07-28 client answers input from servers of both eras: a 2026 server's input_required as it is, a 2025 server's elicitation inside its call's result", async () => {
    let asked = 0;
    const c = await connectV2({ pin: '2026-07-28' }, () => {
      asked++;
      return { action: 'accept', content: { name: 'Ada' } };
    });
    try {
      expect(textOf(await c.client.callTool({ name: 'modern__ask', arguments: {} }))).toBe('hello Ada');
      expect(textOf(await c.client.callTool({ name: 'old__ask', arguments: {} }))).toBe('hello Ada');
      expect(asked).toBe(2);
    } finally {
      await c.close();
    }
  });

  it('a 2026-07-28 client answers sampling for servers of both eras', async () => {
    const c = await connectV2({ pin: '2026-07-28' }, undefined, () => ({ model: 'm', role: 'assistant', content: { type: 'text', text: 'banana' } }));
    try {
      expect(textOf(await c.client.callTool({ name: 'modern__sample', arguments: {} }))).toBe('the model said banana');
      expect(textOf(await c.client.callTool({ name: 'old__sample', arguments: {} }))).toBe('the model said banana');
    } finally {
      await c.close();
    }
  });

  it('a 2026-07-28 client gets progress from servers of both eras and cancels its calls', async () => {
    const c = await connectV2({ pin: '2026-07-28' });
    try {
      for (const server of ['modern', 'old']) {
        const progress: number[] = [];
        // The result comes 300 ms after the progress: the v2 client drops progress that it reads
        // in the same chunk as the request's result (it handles notifications a few microtasks
        // late), which a busy machine can make of back-to-back messages through the shim.
        const done = await c.client.callTool({ name: `${server}__slow`, arguments: { steps: 3, ms: 300 } }, { onprogress: (p) => progress.push(p.progress) });
        expect(textOf(done)).toBe('slept 300');
        expect(progress).toEqual([1, 2, 3]);

        const controller = new AbortController();
        let started!: () => void;
        const reached = new Promise<void>((resolve) => (started = resolve));
        const call = c.client.callTool({ name: `${server}__slow`, arguments: { steps: 1, ms: 60_000 } }, { signal: controller.signal, onprogress: () => started() });
        await reached;
        controller.abort('user pressed stop');
        await expect(call).rejects.toThrow();
        await waitFor(
          async () => {
            const status = await c.client.callTool({ name: 'exai_status', arguments: {} });
            const u = (status.structuredContent as { upstreams: UpstreamStatus[] }).upstreams.find((x) => x.name === server);
            return u?.stderrTail.some((l) => l.endsWith('slow was cancelled')) ? true : undefined;
          },
          { what: `${server} to see the cancel` },
        );
      }
    } finally {
      await c.close();
    }
  });

  it('a 2026-07-28 client listens (subscriptions/listen) for resource updates and list changes', async () => {
    const c = await connectV2({ pin: '2026-07-28' });
    const updates: string[] = [];
    let toolsChanged = 0;
    c.client.setNotificationHandler('notifications/resources/updated', (n) => void updates.push(n.params.uri));
    c.client.setNotificationHandler('notifications/tools/list_changed', () => void toolsChanged++);
    try {
      const listening = await c.client.listen({ toolsListChanged: true, resourceSubscriptions: ['fx://counter'] });
      expect(listening.honoredFilter).toEqual({ toolsListChanged: true, resourceSubscriptions: ['fx://counter'] });
      await c.client.callTool({ name: 'modern__bump', arguments: {} });
      await waitFor(() => (updates.length > 0 ? true : undefined), { what: 'the resource update' });
      expect(updates[0]).toBe('fx://counter');
      // A server joins: the tool list changes.
      writeServers(ws, { modern: modernEntry(), dual: dualEntry(), everything: everythingEntry(), old: dualEntry({ protocol: '2025-11-25' }), late: dualEntry() });
      await waitFor(() => (toolsChanged > 0 ? true : undefined), { what: 'tools/list_changed on the listen stream' });
      expect((await c.client.listTools()).tools.map((tool) => tool.name)).toContain('late__echo');
      await listening.close();
    } finally {
      await c.close();
    }
  });
});
