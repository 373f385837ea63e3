import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_ADDR_IN_USE } from '../src/daemon/run.js';
import { readToken } from '../src/workspace/token.js';
import { resolveWorkspace } from '../src/workspace/identity.js';
import { CLI, childExit, makeTestEnv, type TestEnv } from './helpers/env.js';
import { connectClient, httpGet, RawSession } from './helpers/mcp-client.js';

/** The contract says "within a second"; this bound is generous for a loaded CI machine. */
const PROMPT_EXIT_MS = 5_000;

interface Running {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  ready: Promise<void>;
}

let t: TestEnv;
let nextPort = 10;
const children: ChildProcess[] = [];

function daemonEnv(overrides: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...t.env, EXAI_HEARTBEAT_MS: undefined, ...overrides };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
  return env;
}

/** `exai daemon` as a real child process with an IPC channel, as pm2 runs it. */
function startChild(env: NodeJS.ProcessEnv, ipc = true): Running {
  const child = spawn(process.execPath, [CLI, 'daemon'], { env, stdio: ['ignore', 'pipe', 'pipe', ...(ipc ? ['ipc' as const] : [])] });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const ready = new Promise<void>((resolve, reject) => {
    child.on('message', (m) => m === 'ready' && resolve());
    child.on('exit', (code) => reject(new Error(`daemon exited with ${code} before ready; stderr: ${err}`)));
  });
  ready.catch(() => undefined);
  return { child, stdout: () => out, stderr: () => err, ready };
}

function freshDaemon(): { run: Running; port: number; workspace: string } {
  const workspace = t.workspace();
  const port = t.portBase + nextPort++;
  const run = startChild(daemonEnv({ EXAI_WS_PORT: String(port), EXAI_WORKSPACE: workspace }));
  return { run, port, workspace };
}

async function exitWithin(child: ChildProcess, ms: number) {
  const started = Date.now();
  const exit = await childExit(child);
  return { ...exit, elapsed: Date.now() - started, bound: ms };
}

beforeAll(() => {
  t = makeTestEnv();
});

afterEach(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

afterAll(async () => {
  await t.cleanup();
});

describe('exai daemon as a child process', () => {
  it("sends 'ready' only once it listens; /health answers at once; SIGINT exits 0 promptly and closes sessions with 1001", async () => {
    const { run, port, workspace } = freshDaemon();
    await run.ready;
    // No retry: 'ready' must mean the port already accepts.
    const health = await httpGet(port, '/health');
    expect(health.status).toBe(200);
    const body = JSON.parse(health.body) as Record<string, unknown>;
    const id = resolveWorkspace(workspace).id;
    expect(body).toMatchObject({ ok: true, id, pid: run.child.pid, port, sessions: 0 });

    // The token was created in EXAI_HOME on first need, and works.
    const token = readToken(t.home, id);
    expect(token).toMatch(/^[0-9a-f]{64}$/);
    const client = await connectClient(port, token!);
    const status = await client.callTool({ name: 'exai_status', arguments: {} });
    expect(status.structuredContent).toMatchObject({ workspace, id, port, pid: run.child.pid, sessions: 1 });
    const raw = await RawSession.open(port, token!);

    run.child.kill('SIGINT');
    const exit = await exitWithin(run.child, PROMPT_EXIT_MS);
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(exit.elapsed).toBeLessThan(PROMPT_EXIT_MS);
    expect((await raw.closed).code).toBe(1001);
    await client.close();

    // Logs: one line per event with an ISO time, and never the token.
    const logs = run.stdout() + run.stderr();
    expect(logs).not.toContain(token!);
    for (const line of logs.trim().split('\n')) expect(line).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /);
    expect(run.stdout()).toContain(`127.0.0.1:${port}`);
  });

  it('SIGTERM exits 0 promptly', async () => {
    const { run, port } = freshDaemon();
    await run.ready;
    expect((await httpGet(port, '/health')).status).toBe(200);
    run.child.kill('SIGTERM');
    const exit = await exitWithin(run.child, PROMPT_EXIT_MS);
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(exit.elapsed).toBeLessThan(PROMPT_EXIT_MS);
  });

  it("pm2's shutdown message exits 0 promptly", async () => {
    const { run } = freshDaemon();
    await run.ready;
    run.child.send('shutdown');
    const exit = await exitWithin(run.child, PROMPT_EXIT_MS);
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(exit.elapsed).toBeLessThan(PROMPT_EXIT_MS);
  });

  it('runs without an IPC channel too (started by hand)', async () => {
    const workspace = t.workspace();
    const port = t.portBase + nextPort++;
    const run = startChild(daemonEnv({ EXAI_WS_PORT: String(port), EXAI_WORKSPACE: workspace }), false);
    // Without IPC there is no 'ready': wait for the listening log line instead.
    await new Promise<void>((resolve) => {
      const check = () => (run.stdout().includes('listening') ? resolve() : setTimeout(check, 50));
      check();
    });
    expect((await httpGet(port, '/health')).status).toBe(200);
    run.child.kill('SIGINT');
    expect(await childExit(run.child)).toMatchObject({ code: 0 });
  });

  it(`a taken port: one stderr line naming the port, exit ${EXIT_ADDR_IN_USE}`, async () => {
    const port = t.portBase + nextPort++;
    const squatter: Server = createServer();
    await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', resolve));
    try {
      const run = startChild(daemonEnv({ EXAI_WS_PORT: String(port), EXAI_WORKSPACE: t.workspace() }));
      const exit = await childExit(run.child);
      expect(exit.code).toBe(EXIT_ADDR_IN_USE);
      const lines = run.stderr().trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(String(port));
      expect(lines[0]).toContain('exai spawn');
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
  });
});

describe('exai daemon refuses a bad environment with exit 2, naming the variable', () => {
  const notADir = () => {
    const file = join(t.dir, 'plain-file');
    writeFileSync(file, 'x');
    return file;
  };
  const cases: Array<[string, () => Record<string, string | undefined>, string]> = [
    ['EXAI_WS_PORT missing', () => ({ EXAI_WS_PORT: undefined }), 'EXAI_WS_PORT'],
    ['EXAI_WS_PORT not a number', () => ({ EXAI_WS_PORT: 'eighty' }), 'EXAI_WS_PORT'],
    ['EXAI_WS_PORT out of range', () => ({ EXAI_WS_PORT: '70000' }), 'EXAI_WS_PORT'],
    ['EXAI_WS_PORT zero', () => ({ EXAI_WS_PORT: '0' }), 'EXAI_WS_PORT'],
    ['EXAI_WORKSPACE missing', () => ({ EXAI_WORKSPACE: undefined }), 'EXAI_WORKSPACE'],
    ['EXAI_WORKSPACE not existing', () => ({ EXAI_WORKSPACE: join(t.dir, 'does-not-exist') }), 'EXAI_WORKSPACE'],
    ['EXAI_WORKSPACE a file', () => ({ EXAI_WORKSPACE: notADir() }), 'EXAI_WORKSPACE'],
    ['EXAI_HOME missing', () => ({ EXAI_HOME: undefined }), 'EXAI_HOME'],
    ['EXAI_HOME relative', () => ({ EXAI_HOME: 'relative/home' }), 'EXAI_HOME'],
    ['EXAI_HOME a file', () => ({ EXAI_HOME: notADir() }), 'EXAI_HOME'],
    ['EXAI_HEARTBEAT_MS invalid', () => ({ EXAI_HEARTBEAT_MS: 'often' }), 'EXAI_HEARTBEAT_MS'],
  ];
  for (const [what, overrides, variable] of cases) {
    it(what, async () => {
      const good = { EXAI_WS_PORT: String(t.portBase + 99), EXAI_WORKSPACE: t.workspace() };
      const run = startChild(daemonEnv({ ...good, ...overrides() }));
      const exit = await childExit(run.child);
      expect(exit.code).toBe(2);
      const lines = run.stderr().trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(variable);
    });
  }
});
