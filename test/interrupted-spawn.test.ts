/**
 * An interrupted command is finished by the next one (issue 19 item 2): SIGINT/SIGTERM sent to
 * a real `exai spawn` at known points of its run either finishes the spawn or rolls it back and
 * says which in one line; a crash (SIGKILL) at those points leaves what the next `spawn`, or
 * `doctor --fix`, converges: every recorded client config written with the registry's port.
 * The points are found with the CLI's test pause (EXAI_TEST_PAUSE_AT: a marker line on stderr,
 * then a wait for the signal), never with sleeps.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getHealth } from './helpers/daemon.js';
import { CLI, makeTestEnv, pm2Apps, runCli, spawnJson, type TestEnv } from './helpers/env.js';
import { resolveWorkspace } from '../src/workspace/identity.js';
import { readToken } from '../src/workspace/token.js';
import { WINDOWS } from './helpers/platform.js';

let t: TestEnv;
beforeAll(() => {
  t = makeTestEnv();
});
afterAll(async () => {
  await t.cleanup();
});

interface Paused {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
}

/** `exai spawn …` paused at `step`: resolves once its marker line is on stderr. */
function spawnPausedAt(step: 'registry' | 'started' | 'configs', args: string[]): Promise<Paused> {
  const child = spawn(process.execPath, [CLI, 'spawn', ...args], { env: { ...t.env, VITEST: 'true', EXAI_TEST_PAUSE_AT: step }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  return new Promise((resolve, reject) => {
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      if (err.includes(`exai-test: paused at ${step}\n`)) resolve({ child, stdout: () => out, stderr: () => err });
    });
    child.once('exit', (code) => reject(new Error(`spawn exited ${code} before pausing at ${step}: ${err}`)));
  });
}

async function interrupt(paused: Paused, signal: NodeJS.Signals): Promise<{ code: number | null; stdout: string; lastLine: string }> {
  // 'close': the process exited and its output is all read ('exit' can come before the last data).
  const closed = new Promise<number | null>((resolve) => paused.child.once('close', (code: number | null) => resolve(code)));
  paused.child.kill(signal);
  const code = await closed;
  return { code, stdout: paused.stdout(), lastLine: paused.stderr().trim().split('\n').at(-1)! };
}

function registryEntry(id: string): { port: number; clients: string[]; created?: string[] } | undefined {
  const data = JSON.parse(readFileSync(join(t.home, 'registry.json'), 'utf8')) as { workspaces: Record<string, { port: number; clients: string[]; created?: string[] }> };
  return data.workspaces[id];
}

function configPort(ws: string, rel = '.vscode/mcp.json'): number | undefined {
  const file = join(ws, rel);
  if (!existsSync(file)) return undefined;
  return Number(/"EXAI_WS_PORT"\s*:\s*"(\d+)"/.exec(readFileSync(file, 'utf8'))?.[1]);
}

// Node on Windows cannot send SIGINT or SIGTERM to another process: child.kill() terminates it.
describe.skipIf(WINDOWS)('SIGINT or SIGTERM during exai spawn', () => {
  it('after the registry entry was written, before the daemon started: rolled back, said in one line, nothing left', async () => {
    const ws = t.workspace('int-registry');
    const id = resolveWorkspace(ws).id;
    const paused = await spawnPausedAt('registry', ['--workspace', ws, '--client', 'claude']);
    expect(registryEntry(id)).toBeDefined(); // the point the issue names: the entry is written
    const res = await interrupt(paused, 'SIGINT');
    expect(res.code).toBe(130);
    expect(res.lastLine).toMatch(/^exai: SIGINT received; interrupted before the daemon started; rolled back: .*int-registry is as it was before this spawn$/);
    expect(res.stdout).toBe('');
    expect(registryEntry(id)).toBeUndefined();
    expect(readToken(t.home, id)).toBeUndefined();
    expect((await pm2Apps(t.env)).filter((a) => a.name.includes(id))).toEqual([]);
    expect(readdirSync(ws)).toEqual([]);
  });

  it('a --port N move interrupted before the new daemon started: the old daemon is back on its port, entry and config as before', async () => {
    const ws = t.workspace('int-repin');
    const before = await spawnJson(t.env, ws);
    const entry = JSON.stringify(registryEntry(before.id));
    const config = readFileSync(join(ws, '.vscode', 'mcp.json'), 'utf8');
    const paused = await spawnPausedAt('registry', ['--workspace', ws, '--port', String(t.portBase + 557)]);
    expect(registryEntry(before.id)?.port).toBe(t.portBase + 557);
    const res = await interrupt(paused, 'SIGINT');
    expect(res.code).toBe(130);
    expect(res.lastLine).toMatch(/rolled back: .*int-repin is as it was before this spawn$/);
    expect(JSON.stringify(registryEntry(before.id))).toBe(entry);
    expect(readFileSync(join(ws, '.vscode', 'mcp.json'), 'utf8')).toBe(config);
    expect((await getHealth(before.port)).id).toBe(before.id);
  });

  it('after pm2 started the daemon: finished first (daemon healthy, config on its port), said in one line', async () => {
    const ws = t.workspace('int-started');
    const paused = await spawnPausedAt('started', ['--workspace', ws]);
    const res = await interrupt(paused, 'SIGINT');
    expect(res.code).toBe(0);
    const port = Number(/^port\s+(\d+)$/m.exec(res.stdout)?.[1]);
    expect(res.lastLine).toBe(`exai: SIGINT received; the spawn was finished first: ${ws} runs on port ${port}, 1 client config(s) written`);
    expect(configPort(ws)).toBe(port);
    expect((await getHealth(port)).id).toBe(resolveWorkspace(ws).id);
  });

  it('SIGTERM while the configs are being recorded: finished, and what it created is recorded for remove', async () => {
    const ws = t.workspace('term-configs');
    const id = resolveWorkspace(ws).id;
    const paused = await spawnPausedAt('configs', ['--workspace', ws, '--client', 'vscode', '--client', 'cursor']);
    const res = await interrupt(paused, 'SIGTERM');
    expect(res.code).toBe(0);
    expect(res.lastLine).toMatch(/^exai: SIGTERM received; the spawn was finished first: .* 2 client config\(s\) written$/);
    expect(registryEntry(id)?.created?.sort()).toEqual(['.cursor', '.cursor/mcp.json', '.vscode', '.vscode/mcp.json']);
    expect((await runCli(['remove', '--workspace', ws], t.env)).code).toBe(0);
    expect(readdirSync(ws)).toEqual([]);
  });
});

describe('a spawn that crashed (SIGKILL) is finished by the next command', () => {
  it('a first spawn killed after pm2 started the daemon: doctor names the missing config, the next spawn writes it', async () => {
    const ws = t.workspace('kill-first');
    const id = resolveWorkspace(ws).id;
    const paused = await spawnPausedAt('started', ['--workspace', ws, '--client', 'claude']);
    await interrupt(paused, 'SIGKILL');
    const entry = registryEntry(id)!;
    expect(entry.clients).toEqual(['claude']);
    expect(existsSync(join(ws, '.mcp.json'))).toBe(false);

    const doctor = await runCli(['doctor'], t.env);
    expect(doctor.code).toBe(1);
    expect(doctor.stdout).toContain(`PROBLEM  ${ws}: ${join(ws, '.mcp.json')} is missing — fix: exai doctor --fix`);

    const again = await runCli(['spawn', '--workspace', ws], t.env);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain(`configs    ${join(ws, '.mcp.json')}`);
    expect(configPort(ws, '.mcp.json')).toBe(entry.port);
    expect((await getHealth(entry.port)).id).toBe(id);
    expect((await runCli(['doctor'], t.env)).stdout).toContain(`ok       ${ws}: ${join(ws, '.mcp.json')} points at port ${entry.port}`);
  });

  it('--port N killed after pm2 started the new daemon: doctor names the old port in the config, doctor --fix rewrites it', async () => {
    const ws = t.workspace('kill-repin');
    const before = await spawnJson(t.env, ws);
    const target = t.portBase + 555;
    const paused = await spawnPausedAt('started', ['--workspace', ws, '--port', String(target)]);
    await interrupt(paused, 'SIGKILL');
    expect(registryEntry(before.id)?.port).toBe(target);
    expect(configPort(ws)).toBe(before.port);

    const doctor = await runCli(['doctor'], t.env);
    expect(doctor.stdout).toContain(`PROBLEM  ${ws}: ${join(ws, '.vscode', 'mcp.json')} points at port ${before.port}, the registry says ${target}`);
    const fixed = await runCli(['doctor', '--fix'], t.env);
    expect(fixed.stdout).toContain(`fixed    ${ws}: ${join(ws, '.vscode', 'mcp.json')} points at port ${before.port}, the registry says ${target}; rewrote it with port ${target}`);
    expect(configPort(ws)).toBe(target);
    expect((await getHealth(target)).id).toBe(before.id);
  });

  it('--port N killed after the registry write (old daemon gone, new one never started): the next spawn starts it on N and rewrites the config', async () => {
    const ws = t.workspace('kill-repin-early');
    const before = await spawnJson(t.env, ws);
    const target = t.portBase + 556;
    const paused = await spawnPausedAt('registry', ['--workspace', ws, '--port', String(target)]);
    await interrupt(paused, 'SIGKILL');
    expect(registryEntry(before.id)?.port).toBe(target);

    const again = await spawnJson(t.env, ws);
    expect(again.port).toBe(target);
    expect(again.reused).toBe(false);
    expect(again.configFiles).toEqual([join(ws, '.vscode', 'mcp.json')]);
    expect(configPort(ws)).toBe(target);
  });
});
