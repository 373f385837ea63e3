import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDuration } from '../src/common/duration.js';
import type { Probe } from '../src/start/health.js';
import { planLaunch } from '../src/start/launch-plan.js';
import { probeUntilSettled } from '../src/start/probe.js';
import { appName, workspaceFromCanonical } from '../src/workspace/identity.js';
import { captureLaunchEnv, launchDigest, parsePassEnvNames } from '../src/workspace/launch-env.js';
import { defaultExaiHome } from '../src/workspace/layout.js';
import type { RegistryEntry } from '../src/workspace/registry-file.js';

const healthy: Probe = { state: 'healthy', health: { ok: true, version: 'x', id: 'i', pid: 1, port: 1, uptimeMs: 0, sessions: 0 } };
const down: Probe = { state: 'down', reason: 'ECONNREFUSED' };

describe('a refused connect to a daemon pm2 calls online (WINDOWS.md #19)', () => {
  it('is probed again before the daemon is given up for dead', async () => {
    const answers = [down, healthy];
    let calls = 0;
    const result = await probeUntilSettled(async () => answers[calls++]!, { delayMs: 1 });
    expect(result.state).toBe('healthy');
    expect(calls).toBe(2);
  });

  it('gives up after the attempts, and does not retry other failures', async () => {
    let calls = 0;
    expect((await probeUntilSettled(async () => (calls++, down), { attempts: 3, delayMs: 1 })).state).toBe('down');
    expect(calls).toBe(3);
    calls = 0;
    const foreign: Probe = { state: 'foreign', reason: 'not ours' };
    expect((await probeUntilSettled(async () => (calls++, foreign), { delayMs: 1 })).state).toBe('foreign');
    expect(calls).toBe(1);
  });
});

describe('--idle-timeout durations', () => {
  it.each([
    ['90s', 90_000],
    ['30m', 1_800_000],
    ['2h', 7_200_000],
    ['0', 0],
    ['500ms', 500],
  ])('%s is %d ms', (text, ms) => expect(parseDuration(text, '--idle-timeout')).toBe(ms));

  it.each(['', '10', '-5s', '1.5h', '3d', 'soon'])('%j is a usage error naming the forms', (text) => {
    expect(() => parseDuration(text, '--idle-timeout')).toThrow(/--idle-timeout .* is not a duration; write it like 90s, 30m or 2h \(0 = never\)/);
  });
});

const entry = (over: Partial<RegistryEntry> = {}): RegistryEntry => ({
  workspace: '/w',
  id: 'abcd1234',
  name: 'exai-w-abcd1234',
  port: 8079,
  pinned: false,
  clients: [],
  createdAt: '',
  updatedAt: '',
  ...over,
});

describe('the launch plan', () => {
  const explicit = { passEnv: [] as string[], defaultClients: ['vscode' as const] };

  it('gives a new workspace VS Code\'s config on an explicit spawn, and nothing on any other path', () => {
    expect(planLaunch({ workspace: '/w', home: '/h', env: {}, explicit }, undefined, undefined).writeKinds).toEqual(['vscode']);
    expect(planLaunch({ workspace: '/w', home: '/h', env: {} }, undefined, undefined).writeKinds).toEqual([]);
  });

  it('writes only the recorded configs for a --no-config workspace, whoever starts it', () => {
    const e = entry({ clients: [] });
    expect(planLaunch({ workspace: '/w', home: '/h', env: {} }, e, undefined).writeKinds).toEqual([]);
    expect(planLaunch({ workspace: '/w', home: '/h', env: {}, explicit }, e, undefined).writeKinds).toEqual([]);
    expect(planLaunch({ workspace: '/w', home: '/h', env: {}, clients: ['claude'] }, e, undefined).writeKinds).toEqual(['claude']);
  });

  it('keeps recorded passed values on every path; only an explicit spawn takes new ones', () => {
    const recorded = captureLaunchEnv({ PATH: '/spawn/bin', MY_KEY: 'old' }, ['MY_KEY'], undefined);
    const e = entry({ passEnv: ['MY_KEY'] });
    const restart = planLaunch({ workspace: '/w', home: '/h', env: { PATH: '/other', MY_KEY: 'shell' } }, e, recorded);
    expect(restart.env).toEqual(recorded);
    const spawnWithout = planLaunch({ workspace: '/w', home: '/h', env: { PATH: '/new' }, explicit }, e, recorded);
    expect(spawnWithout.env.passed).toEqual({ MY_KEY: 'old' });
    expect(spawnWithout.env.base.PATH).toBe('/new');
    const spawnWith = planLaunch({ workspace: '/w', home: '/h', env: { PATH: '/new', MY_KEY: 'new' }, explicit }, e, recorded);
    expect(spawnWith.env.passed).toEqual({ MY_KEY: 'new' });
  });

  it('drops a passed name with --drop-env, keeping the others', () => {
    const recorded = captureLaunchEnv({ A: '1', B: '2' }, ['A', 'B'], undefined);
    const plan = planLaunch({ workspace: '/w', home: '/h', env: {}, explicit: { ...explicit, dropEnv: ['A'] } }, entry({ passEnv: ['A', 'B'] }), recorded);
    expect(plan.passEnv).toEqual(['B']);
    expect(plan.env.passed).toEqual({ B: '2' });
  });

  it('refuses a passed name that has no value anywhere, with the fix', () => {
    expect(() => planLaunch({ workspace: '/w', home: '/h', env: {}, explicit: { ...explicit, passEnv: ['NOPE'] } }, undefined, undefined)).toThrow(
      /NOPE is to be passed to the daemon but is not set in this shell/,
    );
    expect(() => parsePassEnvNames(['A,B', 'bad name'])).toThrow(/"bad name" is not a variable name/);
    expect(parsePassEnvNames(['A, B', 'A', 'ProgramFiles(x86)'])).toEqual(['A', 'B', 'ProgramFiles(x86)']);
  });

  it('digests passed values and the idle timeout, keyed by the token', () => {
    const env = captureLaunchEnv({ MY_KEY: 'a' }, ['MY_KEY'], undefined);
    const other = captureLaunchEnv({ MY_KEY: 'b' }, ['MY_KEY'], undefined);
    const d = launchDigest({ port: 1 }, env, 't1');
    expect(launchDigest({ port: 1 }, env, 't1')).toBe(d);
    expect(launchDigest({ port: 1 }, other, 't1')).not.toBe(d);
    expect(launchDigest({ port: 1, idleTimeoutMs: 0 }, env, 't1')).not.toBe(d);
    expect(launchDigest({ port: 1 }, env, 't2')).not.toBe(d);
  });
});

describe('pm2 app names per state dir (WINDOWS.md #2)', () => {
  it('are exai-<slug>-<id> under the default EXAI_HOME and carry a tag of any other', () => {
    const ws = workspaceFromCanonical('/some/Project X');
    expect(appName(ws, defaultExaiHome(process.env))).toBe(ws.name);
    const a = appName(ws, join('/tmp', 'home-a'));
    const b = appName(ws, join('/tmp', 'home-b'));
    expect(a).toMatch(/^exai-project-x-[0-9a-f]{8}-[0-9a-f]{4}$/);
    expect(a).not.toBe(b);
    expect(appName(ws, '/tmp/home-a/')).toBe(a);
  });
});
