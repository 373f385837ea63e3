/**
 * Load, declared once and run at two sizes: the always-run subset (test/reliability/load.test.ts)
 * and the stress run (test/stress/load.test.ts). Titles are passed in whole: the reliability
 * report maps tests by their exact titles.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestEnv, type TestEnv } from '../helpers/env.js';
import { sessionsLoad, spawnManyAtOnce, tokenOf, type SpawnJson } from './support.js';

export interface LoadSizes {
  /** Name of the describe block. */
  suite: string;
  /** [L1]: this many workspaces spawned at once from as many processes. */
  spawn: { title: string; workspaces: number };
  /** [L2]: this many concurrent sessions on one daemon, each pipelining `calls` calls. */
  sessions: { title: string; sessions: number; calls: number };
  /** Per-test timeout; vitest's configured default when absent. */
  timeoutMs?: number;
}

export function defineLoadSuite(sizes: LoadSizes): void {
  let t: TestEnv;
  let fleet: SpawnJson[] = [];

  beforeAll(() => {
    t = makeTestEnv();
  });
  afterAll(async () => {
    await t.cleanup();
  });

  describe(sizes.suite, () => {
    it(sizes.spawn.title, async (ctx) => {
      fleet = await spawnManyAtOnce(ctx, t, sizes.spawn.workspaces);
      expect(fleet).toHaveLength(sizes.spawn.workspaces);
    }, sizes.timeoutMs);

    it(sizes.sessions.title, async (ctx) => {
      const target = fleet[0] ?? (await spawnManyAtOnce(ctx, t, 1))[0]!;
      await sessionsLoad(ctx, { port: target.port, token: tokenOf(t, target.id), id: target.id, pid: target.pid }, sizes.sessions.sessions, sizes.sessions.calls);
    }, sizes.timeoutMs);
  });
}
