/**
 * One launch spec, every start path (DESIGN.md "Lifecycle"; issue 11): the same workspace
 * started by `exai spawn`, `exai restart`, the shim, the fleet brought back after pm2 died,
 * `pm2 start ecosystem.config.js` and `pm2 resurrect` runs the identical pm2 app, and its
 * upstream sees the same environment — the variable passed at spawn included — although every
 * path after the first runs from a shell without that variable and with another PATH.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SpawnResult } from '../src/start/spawn.js';
import { getHealth } from './helpers/daemon.js';
import { makeTestEnv, pm2Kill, ROOT, runCli, runPm2, waitFor, type TestEnv } from './helpers/env.js';
import { connectStrict, upstreamEnv, writtenEntry, exaiStatus } from './helpers/strict-client.js';
import { everythingEntry, writeServers } from './upstreams-helpers.js';

const SECRET = 'k-7f3a9c-passed-at-spawn';

let t: TestEnv;
let ws: string;
let spawned: SpawnResult;
/** What pm2 ran after `exai spawn`: every later path must match it. */
let reference: AppView;
let referenceUpstream: Record<string, string>;
/** Another shell: no MY_KEY, and a PATH of its own. */
let otherShell: NodeJS.ProcessEnv;

/** The part of a pm2 app that decides what runs: script, args, interpreter, env names, options. */
interface AppView {
  [field: string]: unknown;
}

const OPTION_FIELDS = [
  'pm_exec_path', 'args', 'node_args', 'exec_interpreter', 'namespace', 'pm_cwd', 'filter_env', 'autorestart',
  'wait_ready', 'listen_timeout', 'kill_timeout', 'shutdown_with_message', 'max_restarts', 'min_uptime',
  'stop_exit_codes', 'restart_delay', 'exp_backoff_restart_delay', 'pmx', 'merge_logs', 'pm_out_log_path', 'pm_err_log_path',
];

async function appView(): Promise<AppView> {
  const res = await runPm2(['jlist'], t.env);
  const line = res.stdout.split('\n').find((l) => l.startsWith('['));
  const apps = JSON.parse(line ?? '[]') as { name: string; pm2_env: Record<string, unknown> & { env?: Record<string, string> } }[];
  const app = apps.find((a) => a.name === spawned.name);
  if (!app) throw new Error(`pm2 runs no ${spawned.name}: ${apps.map((a) => a.name).join(', ')}`);
  const view: AppView = {};
  for (const field of OPTION_FIELDS) view[field] = app.pm2_env[field];
  const env = app.pm2_env.env ?? {};
  view.envNames = Object.keys(env).sort();
  view.exaiEnv = Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('EXAI_')).sort());
  return view;
}

/** Waits for the workspace's daemon to answer on its port, then reads what its upstream sees. */
async function upstreamThroughShim(): Promise<Record<string, string>> {
  const session = await connectStrict(writtenEntry(ws), t.dir);
  try {
    expect((await exaiStatus(session.client)).port).toBe(spawned.port);
    return await waitFor(() => upstreamEnv(session.client, 'ev').catch(() => undefined), { what: 'the ev upstream', timeoutMs: 60_000 });
  } finally {
    await session.close();
  }
}

/** `startedByShim`: nothing runs yet, and the client connecting is what starts it. */
async function expectSameAsSpawn(path: string, startedByShim = false): Promise<void> {
  if (!startedByShim) await waitFor(async () => ((await getHealth(spawned.port, 1_000)).id === spawned.id ? true : undefined), { what: `the daemon after ${path}`, timeoutMs: 60_000 });
  const upstream = await upstreamThroughShim();
  expect(await appView(), `pm2 app after ${path}`).toEqual(reference);
  expect(upstream.FROM_SPAWN, `the passed variable after ${path}`).toBe(SECRET);
  expect(upstream.PATH, `the upstream's PATH after ${path}`).toBe(referenceUpstream.PATH);
}

beforeAll(async () => {
  t = makeTestEnv();
  ws = t.workspace('paths');
  writeServers(ws, { ev: { ...everythingEntry(), env: { FROM_SPAWN: '${env:MY_KEY}' } } });
  const res = await runCli(['spawn', '--workspace', ws, '--pass-env', 'MY_KEY', '--json'], { ...t.env, MY_KEY: SECRET });
  expect(res.code, res.stderr).toBe(0);
  spawned = JSON.parse(res.stdout) as SpawnResult;
  reference = await appView();
  referenceUpstream = await upstreamThroughShim();
  const { MY_KEY: _drop, ...rest } = t.env;
  otherShell = { ...rest, PATH: `/opt/nowhere/bin:${process.env.PATH ?? ''}` };
}, 180_000);

afterAll(async () => {
  await t.cleanup();
});

describe('every start path starts the same daemon', () => {
  it('exai spawn: the passed variable reaches the upstream, and pm2 holds none of it', async () => {
    expect(referenceUpstream.FROM_SPAWN).toBe(SECRET);
    expect(JSON.stringify(reference)).not.toContain(SECRET);
    // The app's env names the state dirs and the port (beside pm2's own and glibc's arena cap), nothing of the caller's shell.
    const pm2Own = ['PM2_HOME', 'unique_id', spawned.name];
    expect((reference.envNames as string[]).filter((n) => !pm2Own.includes(n))).toEqual(['EXAI_HOME', 'EXAI_WORKSPACE', 'EXAI_WS_PORT', 'MALLOC_ARENA_MAX']);
    for (const args of [['env', '0'], ['show', spawned.name], ['jlist']]) {
      const out = await runPm2(args, t.env);
      expect(out.stdout + out.stderr, `pm2 ${args.join(' ')}`).not.toContain(SECRET);
    }
  });

  it('exai restart, from a shell without the variable', async () => {
    const res = await runCli(['restart', '--workspace', ws], otherShell);
    expect(res.code, res.stderr).toBe(0);
    await expectSameAsSpawn('exai restart');
  });

  it("the shim's start, after the app is gone from pm2", async () => {
    expect((await runPm2(['delete', spawned.name], t.env)).code).toBe(0);
    await expectSameAsSpawn('the shim started it', true);
  });

  it('the fleet brought back by the next exai command after pm2 died', async () => {
    await pm2Kill(t.pm2Home);
    const res = await runCli(['list', '--json'], otherShell);
    expect(res.code, res.stderr).toBe(0);
    await expectSameAsSpawn('the fleet came back');
  });

  it('pm2 start ecosystem.config.js after pm2 died', async () => {
    await pm2Kill(t.pm2Home);
    const res = await runPm2(['start', join(ROOT, 'ecosystem.config.js')], otherShell);
    expect(res.code, res.stderr).toBe(0);
    await expectSameAsSpawn('pm2 start ecosystem.config.js');
  });

  it('pm2 save, pm2 kill, pm2 resurrect', async () => {
    expect((await runPm2(['save'], t.env)).code).toBe(0);
    await pm2Kill(t.pm2Home);
    const res = await runPm2(['resurrect'], otherShell);
    expect(res.code, res.stderr).toBe(0);
    await expectSameAsSpawn('pm2 resurrect');
  });
});
