/**
 * Load at full size (EXAI_STRESS=1, `npm run test:stress`): 20 workspaces spawned at once
 * from 20 processes, and one daemon serving 50 concurrent sessions x 200 calls each.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestEnv, type TestEnv } from '../helpers/env.js';
import { sessionsLoad, spawnManyAtOnce, tokenOf, type SpawnJson } from '../reliability/support.js';

let t: TestEnv;
let fleet: SpawnJson[] = [];

beforeAll(() => {
  t = makeTestEnv();
});
afterAll(async () => {
  await t.cleanup();
});

describe('load (stress)', () => {
  it('[L1] 20 workspaces spawned at once from 20 processes: 20 distinct ports, 20 healthy daemons, a registry with 20 entries, one pm2 daemon', async (ctx) => {
    fleet = await spawnManyAtOnce(ctx, t, 20);
    expect(fleet).toHaveLength(20);
  }, 300_000);

  it('[L2] one daemon, 50 concurrent sessions x 200 calls each: every response matches its own request, none lost', async (ctx) => {
    const target = fleet[0] ?? (await spawnManyAtOnce(ctx, t, 1))[0]!;
    await sessionsLoad(ctx, { port: target.port, token: tokenOf(t, target.id), id: target.id, pid: target.pid }, 50, 200);
  }, 300_000);
});
