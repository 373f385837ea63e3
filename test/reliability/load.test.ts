/**
 * Load, always-run subset (the full sizes run in test/stress/load.test.ts): a handful of
 * workspaces spawned at once from separate processes, and one daemon serving concurrent
 * sessions that pipeline calls with colliding ids.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestEnv, type TestEnv } from '../helpers/env.js';
import { sessionsLoad, spawnManyAtOnce, tokenOf, type SpawnJson } from './support.js';

let t: TestEnv;
let fleet: SpawnJson[] = [];

beforeAll(() => {
  t = makeTestEnv();
});
afterAll(async () => {
  await t.cleanup();
});

describe('load (always-run subset)', () => {
  it('[L1] 5 workspaces spawned at once from 5 processes: 5 ports, 5 healthy daemons, 5 registry entries, one pm2 daemon', async (ctx) => {
    fleet = await spawnManyAtOnce(ctx, t, 5);
    expect(fleet).toHaveLength(5);
  });

  it('[L2] one daemon, 10 concurrent sessions x 20 pipelined calls: every reply matches its own request, none lost', async (ctx) => {
    const target = fleet[0] ?? (await spawnManyAtOnce(ctx, t, 1))[0]!;
    await sessionsLoad(ctx, { port: target.port, token: tokenOf(t, target.id), id: target.id, pid: target.pid }, 10, 20);
  });
});
