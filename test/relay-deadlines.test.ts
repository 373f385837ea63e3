/**
 * The relay's limit on one call (callTimeoutMs), kept by one timer at the oldest call's deadline
 * (src/daemon/upstreams/deadlines.ts) instead of a timer per call: calls in flight together each
 * fail at their own deadline, never earlier; an answered call is not touched; a call made after
 * the table emptied is timed again; the upstream is told of each call given up. In-process
 * Gateway, a real upstream process (test/fixtures/scripted-server.mjs), real SDK clients.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, makeTestEnv, waitFor, type TestEnv } from './helpers/env.js';
import { Gateway } from '../src/daemon/upstreams/gateway.js';
import { openSession, textOf, writeServers, type TestSession } from './upstreams-helpers.js';

const SCRIPTED = join(ROOT, 'test', 'fixtures', 'scripted-server.mjs');
const LIMIT_MS = 1_000;

let t: TestEnv;
let gateway: Gateway;
let s: TestSession;
let calls: string;

beforeAll(async () => {
  t = makeTestEnv();
  const workspace = t.workspace('deadlines');
  calls = join(t.dir, 'calls.jsonl');
  writeServers(workspace, { sc: { command: process.execPath, args: [SCRIPTED], env: { SCRIPTED_LABEL: 'sc', SCRIPTED_TOOL_NAMES: 'work', SCRIPTED_CALLS: calls } } });
  gateway = new Gateway({ workspace, debounceMs: 50, callTimeoutMs: LIMIT_MS, log: { info: () => undefined, warn: () => undefined, error: () => undefined } });
  gateway.start();
  await gateway.settled(60_000);
  s = await openSession(gateway);
}, 90_000);

afterAll(async () => {
  await s?.close().catch(() => undefined);
  await gateway?.close();
  await t?.cleanup();
});

/** A call the server answers after `ms`; resolves with how long it took and how it ended. */
async function timedCall(ms: number): Promise<{ tookMs: number; text?: string; error?: string }> {
  const started = performance.now();
  try {
    const result = await s.client.callTool({ name: 'sc__work', arguments: { ms } }, CallToolResultSchema, { timeout: 60_000 });
    return { tookMs: performance.now() - started, text: textOf(result) };
  } catch (err) {
    return { tookMs: performance.now() - started, error: err instanceof Error ? err.message : String(err) };
  }
}

const cancelledIn = () =>
  existsSync(calls)
    ? readFileSync(calls, 'utf8')
        .split('\n')
        .filter((l) => l.includes('"cancelled"'))
    : [];

describe('the relay gives up a call after callTimeoutMs', () => {
  it('fails each unanswered call at its own deadline, leaves answered ones alone, and times a later call again', async () => {
    const slowA = timedCall(600_000);
    const slowB = timedCall(600_000);
    const quick = await timedCall(0);
    expect(quick.text).toBe('sc:work:{"ms":0}');

    const [a, b] = await Promise.all([slowA, slowB]);
    for (const r of [a, b]) {
      expect(r.error).toContain(`did not answer tools/call within ${LIMIT_MS} ms`);
      expect(r.tookMs).toBeGreaterThanOrEqual(LIMIT_MS - 5);
    }
    await waitFor(() => cancelledIn().length === 2, { what: 'the upstream to be told of both calls given up' });

    // Nothing is in flight now: a new call is timed from its own start.
    const c = await timedCall(600_000);
    expect(c.error).toContain(`did not answer tools/call within ${LIMIT_MS} ms`);
    expect(c.tookMs).toBeGreaterThanOrEqual(LIMIT_MS - 5);
    await waitFor(() => cancelledIn().length === 3, { what: 'the upstream to be told of the third call given up' });
  }, 30_000);
});
