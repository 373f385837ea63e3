/**
 * One pm2 connection per command (issue 22): `doctor --fix` starts a dead workspace on the
 * connection the command opened. A second connect inside it replaced pm2's one client socket,
 * and its disconnect left the command's own calls to reconnect through pm2's path (which starts
 * a missing pm2 daemon itself, past exai's locked, detached start). In-process, with real pm2
 * and a real daemon: the client socket doctor was handed is the one it still holds, connected.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { getHealth } from './helpers/daemon.js';
import { makeTestEnv, runPm2, spawnJson, type TestEnv } from './helpers/env.js';

let t: TestEnv;
const saved = { ...process.env };
beforeAll(() => {
  t = makeTestEnv();
  // pm2 reads PM2_HOME when it is first loaded: point this process at the test's homes first.
  for (const name of ['EXAI_HOME', 'PM2_HOME', 'EXAI_PORT_BASE', 'EXAI_PORT_STRIDE'] as const) process.env[name] = t.env[name];
});
afterAll(async () => {
  process.env = saved;
  await t.cleanup();
});

/** pm2's API object (one per process) and the RPC socket its client holds now. */
async function pm2ClientSocket(): Promise<{ connected?: boolean } | undefined> {
  const pm2 = (await import('pm2')).default as unknown as { Client: { client_sock?: { connected?: boolean } } };
  return pm2.Client.client_sock;
}

it('doctor --fix restarts a dead workspace on the pm2 connection it was handed, and keeps it', async () => {
  const dead = t.workspace('dead');
  const started = await spawnJson(t.env, dead);
  expect((await runPm2(['delete', started.name], t.env)).code).toBe(0);

  const { connectPm2 } = await import('../src/supervisor/pm2.js');
  const { runDoctor } = await import('../src/fleet/doctor.js');
  const pm2 = await connectPm2(t.home);
  try {
    const socket = await pm2ClientSocket();
    expect(socket?.connected).toBe(true);
    const findings = await runDoctor({ home: t.home, pm2, fix: true, yes: false });
    expect(findings.find((f) => f.scope === dead && f.check === 'daemon')).toMatchObject({ status: 'fixed' });
    expect((await getHealth(started.port)).id).toBe(started.id);
    // The command's connection was neither replaced nor closed under it.
    expect(await pm2ClientSocket()).toBe(socket);
    expect(socket?.connected).toBe(true);
    expect((await pm2.describe(started.name))?.pm2_env?.status).toBe('online');
  } finally {
    pm2.disconnect();
  }
});
