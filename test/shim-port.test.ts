/**
 * A client config committed by a teammate names their port, not ours (issue 12): the shim uses
 * the workspace's registered port, or starts the workspace when it has none here, and says so
 * in one line — it never talks to whichever daemon happens to hold that port.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SpawnResult } from '../src/start/spawn.js';
import { makeTestEnv, runCli, spawnJson, type TestEnv } from './helpers/env.js';
import { connectStrict, exaiStatus, writtenEntry } from './helpers/strict-client.js';
import { squat } from './helpers/squatter.js';

let t: TestEnv;
let other: SpawnResult;
beforeAll(async () => {
  t = makeTestEnv();
  other = await spawnJson(t.env, t.workspace('teammates-port-owner'));
}, 120_000);
afterAll(async () => {
  await t.cleanup();
});


describe('a client config naming a port that is not the workspace\'s', () => {
  it('reaches the workspace\'s registered port, with one line saying so', async () => {
    const ws = t.workspace('registered-here');
    const mine = await spawnJson(t.env, ws);
    const entry = writtenEntry(ws);
    const session = await connectStrict({ ...entry, env: { ...entry.env, EXAI_WS_PORT: String(other.port) } }, join(t.dir, 'client-home'));
    try {
      const status = await exaiStatus(session.client);
      expect(status.port).toBe(mine.port);
      expect(status.pid).toBe(mine.pid);
      const lines = session.stderr().split('\n').filter((l) => l.includes('client config says port'));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(`port ${other.port}`);
      expect(lines[0]).toContain(`registered on port ${mine.port}`);
    } finally {
      await session.close();
    }
  });

  it('starts the workspace when it is not registered here, instead of using the other daemon', async () => {
    const ws = t.workspace('fresh-clone');
    // The teammate's committed entry: their port, this folder, this machine's state dirs.
    const entry = writtenEntry(other.workspace);
    const session = await connectStrict({ ...entry, env: { ...entry.env, EXAI_WORKSPACE: ws } }, join(t.dir, 'client-home'));
    try {
      const status = await exaiStatus(session.client);
      expect(status.workspace).toBe(ws);
      expect(status.port).not.toBe(other.port);
      // A candidate of this machine's range (the entry's EXAI_PORT_BASE/STRIDE), not 8079's.
      expect((status.port - t.portBase) % t.portStride).toBe(0);
      expect(status.port).toBeGreaterThanOrEqual(t.portBase);
      expect(session.stderr()).toMatch(new RegExp(`port ${other.port} is served by another workspace's daemon`));
    } finally {
      await session.close();
    }
  });
});

describe('a pinned port that another program took while the daemon was down', () => {
  it('fails the first request at once with the start error (pinned, who holds it, the fix), not a retry loop', async () => {
    const ws = t.workspace('pinned-and-taken');
    const port = t.portBase + 7 * t.portStride + 3; // off the stride: no other workspace here gets it
    const res = await runCli(['spawn', '--workspace', ws, '--port', String(port), '--json'], t.env);
    expect(res.code, res.stderr).toBe(0);
    expect((await runCli(['stop', '--workspace', ws], t.env)).code).toBe(0);
    const squatter = await squat(port);
    try {
      // The shim loads the supervisor's start path from its own bundle (dist/bundle/spawn.cjs):
      // the start error it gets back must still count as exai's own, final error.
      const failed = await connectStrict(writtenEntry(ws), join(t.dir, 'client-home')).then(
        async (session) => {
          await session.close();
          return undefined;
        },
        (err: unknown) => err as Error,
      );
      expect(failed?.message).toContain(`port ${port} is pinned`);
      expect(failed?.message).toContain(`pid ${squatter.pid}`);
    } finally {
      await squatter.close();
    }
  }, 90_000);
});
