/**
 * Hostile input at the CLI: workspace paths built to break shells and parsers, port values
 * that are not ports, and a servers.json whose commands do not exist or smuggle shell syntax.
 * "Nothing executed" is checked with marker files that any shell interpretation would create.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getHealth } from '../helpers/daemon.js';
import { CLI, makeTestEnv, pm2Apps, ROOT, runCli, shimTransport, spawnJson, waitFor, type TestEnv } from '../helpers/env.js';
import { connectClient } from '../helpers/mcp-client.js';
import type { ExaiStatus } from '../../src/daemon/builtins.js';
import type { UpstreamStatus } from '../../src/daemon/upstreams/upstream.js';
import { cliOk, expectOneLineFailure, filesUnder, listJson, note, tokenOf } from './support.js';

let t: TestEnv;
const marker = `pwned-${randomBytes(4).toString('hex')}`;

beforeAll(() => {
  t = makeTestEnv();
});
afterAll(async () => {
  await t.cleanup();
});

/** Anything a shell would have run: marker files in the places a command could have run from. */
function markersFound(): string[] {
  const places = [...filesUnder(t.dir), ...readdirSync(ROOT).map((f) => join(ROOT, f)), ...readdirSync(process.cwd()).map((f) => join(process.cwd(), f))];
  // Folder names in this file contain the marker text on purpose; a created file is named by it.
  return places.filter((p) => basename(p).startsWith(marker));
}

/** `exai_status`, with its upstreams (typed loosely in the source) as the daemon reports them. */
interface Status extends ExaiStatus {
  upstreams: UpstreamStatus[];
}

describe('hostile CLI input', () => {
  it('[H3] workspace paths with newlines, tabs, backticks, ; | && $() ${} globs, quotes, a leading dash and non-ASCII: every command handles them, the shim too, and nothing is executed', async (ctx) => {
    const names = [
      `-rf line1\nline2\ttab \`touch ${marker}-1\` ;touch ${marker}-2 |touch ${marker}-3 && touch ${marker}-4 $(touch ${marker}-5) \${IFS} *?[a]`,
      `"dq" 'sq' \\ %s%n ünï 日本 🦄 $HOME ~ ..`,
    ];
    const checked: string[] = [];
    for (const name of names) {
      const dir = join(t.dir, 'workspaces', name);
      mkdirSync(dir, { recursive: true });
      const r = await spawnJson(t.env, `--workspace=${dir}`.slice('--workspace='.length));
      expect(r.workspace).toBe(dir);
      expect(r.name).toMatch(/^exai-[a-z0-9-]{1,24}-[0-9a-f]{8}-[0-9a-f]{4}$/);
      expect((await getHealth(r.port)).id).toBe(r.id);
      const client = await connectClient(r.port, tokenOf(t, r.id));
      const status = (await client.callTool({ name: 'exai_status', arguments: {} })).structuredContent as unknown as Status;
      await client.close();
      expect(status.workspace).toBe(dir);
      const mcp = JSON.parse(readFileSync(join(dir, '.vscode', 'mcp.json'), 'utf8')) as { servers: { exai: { env: Record<string, string> } } };
      expect(mcp.servers.exai.env.EXAI_WS_PORT).toBe(String(r.port));
      expect((await listJson(t)).find((x) => x.id === r.id)?.workspace).toBe(dir);

      // The editor launches the shim with the folder in EXAI_WORKSPACE: the same path must work there.
      const transport = shimTransport(t.env, r.port, dir);
      const viaShim = new Client({ name: 'h3', version: '0' });
      await viaShim.connect(transport);
      const shimStatus = (await viaShim.callTool({ name: 'exai_status', arguments: {} })).structuredContent as unknown as Status;
      await viaShim.close();
      expect(shimStatus.id).toBe(r.id);

      expect((await cliOk(t, ['logs', '--workspace', dir, '--lines', '500'])).stdout).toMatch(/listening/);
      await cliOk(t, ['stop', '--workspace', dir]);
      const again = await spawnJson(t.env, dir);
      expect(again.port).toBe(r.port);
      const doctor = await runCli(['doctor', '--json'], t.env);
      const problems = (JSON.parse(doctor.stdout) as { findings: { scope: string; status: string }[] }).findings.filter((f) => f.scope === dir && f.status === 'problem');
      expect(problems).toEqual([]);
      await cliOk(t, ['remove', '--workspace', dir]);
      expect((await pm2Apps(t.env)).some((a) => a.name === r.name)).toBe(false);
      checked.push(r.name);
    }
    expect(markersFound()).toEqual([]);
    note(ctx, `2 folders (${JSON.stringify(names[0]).slice(0, 60)}…, ${JSON.stringify(names[1])}): pm2 names ${checked.join(', ')}`);
    note(ctx, 'for each: spawn, health, exai_status over WebSocket and through `exai shim` report the exact path; mcp.json valid; list, logs, stop, spawn (same port), doctor (no problem) and remove all work; 0 marker files from the 5 shell-injection attempts');
  });

  it('[H3] --port out of range or not a number: exit 2, one line naming --port; nothing written, nothing started', async (ctx) => {
    const fresh = makeTestEnv();
    try {
      const dir = fresh.workspace('ports');
      const values = ['', ' 8080', '8080 ', '80.0', '1e3', '0x1F90', '65536', '99999999999999999999', '+8080', '-0', '٣٠٨٠', '8080abc', '0'];
      for (const value of values) {
        const line = expectOneLineFailure(await runCli(['spawn', '--workspace', dir, '--port', value], fresh.env), 2);
        expect(line, JSON.stringify(value)).toMatch(/--port/);
      }
      expectOneLineFailure(await runCli(['spawn', '--workspace', dir, '--port'], fresh.env), 2);
      for (const lines of ['-1', 'abc', '1.5']) expectOneLineFailure(await runCli(['logs', '--workspace', dir, '--lines', lines], fresh.env), 2);
      expect(existsSync(join(fresh.home, 'registry.json'))).toBe(false);
      expect(readdirSync(dir)).toEqual([]);
      expect(existsSync(fresh.pm2Home) ? (await pm2Apps(fresh.env)).length : 0).toBe(0);
      note(ctx, `--port ${values.map((v) => JSON.stringify(v)).join(', ')} and a missing value: each exit 2 with one line naming --port; --lines -1 / abc / 1.5: exit 2; no registry, no config, no pm2 app`);
    } finally {
      await fresh.cleanup();
    }
  });

  it('[H3] servers.json whose commands do not exist or smuggle shell syntax: spawn succeeds, built-ins work, exai_status and doctor name each failed server; nothing executed, the daemon never restarts', async (ctx) => {
    const dir = t.workspace('ghost-servers');
    mkdirSync(join(dir, '.exai'));
    writeFileSync(
      join(dir, '.exai', 'servers.json'),
      JSON.stringify({
        servers: {
          ghost: { command: '/nonexistent/definitely-not-here' },
          shelly: { command: `no-such-cmd-xyz; touch ${marker}-6`, args: [`$(touch ${marker}-7)`, `\`touch ${marker}-8\``, `; touch ${marker}-9`] },
          relative: { command: './not-here.sh', args: ['&&', 'touch', `${marker}-10`] },
        },
      }),
    );
    const r = await spawnJson(t.env, dir);
    const client = await connectClient(r.port, tokenOf(t, r.id));
    try {
      const status = await waitFor(
        async () => {
          const s = (await client.callTool({ name: 'exai_status', arguments: {} })).structuredContent as unknown as Status;
          return s.upstreams.length === 3 && s.upstreams.every((u) => u.state === 'failed') ? s : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 250, what: 'all three upstreams to be marked failed' },
      );
      for (const u of status.upstreams) expect(u.lastError, u.name).toMatch(/not found|ENOENT/);
      expect(status.pid).toBe(r.pid);
      const tools = (await client.listTools()).tools.map((x) => x.name);
      expect(tools).toEqual(['exai_status']);

      const doctor = await runCli(['doctor', '--json'], t.env);
      const findings = (JSON.parse(doctor.stdout) as { findings: { scope: string; check: string; status: string; message: string }[] }).findings.filter(
        (f) => f.scope === dir && f.status === 'problem',
      );
      expect(findings.map((f) => f.check).sort()).toEqual(['upstream ghost', 'upstream relative', 'upstream shelly']);
      expect(markersFound()).toEqual([]);
      const row = (await listJson(t)).find((x) => x.id === r.id)!;
      expect(row).toMatchObject({ healthy: true, restarts: 0 });
      note(ctx, `3 servers (absolute path that does not exist; "no-such-cmd-xyz; touch …" with $(…), \`…\` and ; in args; "./not-here.sh && touch …"): spawn exit 0, tools/list = [exai_status], each upstream "failed": ${status.upstreams.map((u) => `${u.name}: ${u.lastError}`).join(' | ').replace(new RegExp(marker, 'g'), '<marker>')}`);
      note(ctx, `doctor: ${findings.length} problems, one per server; 0 marker files; daemon healthy with 0 restarts`);
    } finally {
      await client.close();
    }
  });
});
