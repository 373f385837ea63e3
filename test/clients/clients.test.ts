/**
 * `npm run test:clients`: exai driven by real clients nobody on this project wrote, each
 * launched the way its users launch it, from the config `exai spawn --client …` wrote. One
 * test per client; a client that cannot be installed here is skipped with the reason, never
 * passed. Facts about each client: shared/EDITORS.md. The table at the end goes into README.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CodexAppServer, type McpServerStatus, type ToolCallResult } from './codex.js';
import { freshScenario, installed, record, revisionsSpoken, runClient, seconds, skippedRow, spawnScenario, UPSTREAM_TOOL, versionOf } from './support.js';
import { ROOT, runCli } from '../helpers/env.js';
import { runVsCode } from './vscode.js';

const PYTHON_CLIENT = fileURLToPath(new URL('./python_client.py', import.meta.url));

/** Skips the test (and records why) when the client could not be installed. */
function need(client: string, label: string, skip: (note: string) => void): ReturnType<typeof installed> {
  const it = installed(client);
  if (!it.ok) {
    record(skippedRow(label, it.reason ?? 'not installed'));
    skip(it.reason ?? 'not installed');
  }
  return it;
}

describe('real clients', () => {
  it('VS Code (code-server): starts exai from .vscode/mcp.json, lists its tools and an upstream’s, and calls exai_status', async ({ skip }) => {
    const vs = need('vscode', 'VS Code (code-server)', skip);
    const s = await spawnScenario('vscode');
    try {
      const started = Date.now();
      const { version, probe } = await runVsCode(vs, { dir: s.t.dir, workspace: s.workspace, port: s.t.portBase + 990, env: s.env });
      expect(probe.error).toBeUndefined();
      expect(probe.tools).toContain('exai_status');
      expect(probe.tools).toContain(UPSTREAM_TOOL);
      expect(probe.status?.port).toBe(s.port);
      expect(probe.status?.workspace).toBe(s.workspace);
      expect(probe.echo).toContain('hello from VS Code');
      record({ client: 'VS Code (code-server)', version: `code-server ${version.split(' ')[0]} (VS Code ${probe.vscode})`, connected: 'yes', protocol: await revisionsSpoken(s), tools: `${probe.tools!.length}`, call: `exai_status port ${probe.status!.port} = spawned; ${UPSTREAM_TOOL} ✓`, seconds: seconds(started) });
    } finally {
      await s.cleanup();
    }
  });

  it('VS Code (code-server) with the exai extension: a folder never spawned and without .vscode/mcp.json gets its own daemon, registered, and its tools are called', async ({ skip }) => {
    const vs = need('vscode', 'VS Code + exai extension', skip);
    const built = spawnSync(process.execPath, [join(ROOT, 'scripts', 'vsix.mjs')], { encoding: 'utf8', timeout: 300_000 });
    expect(built.status, `${built.stdout}${built.stderr}`).toBe(0);
    const s = freshScenario();
    try {
      const started = Date.now();
      const { version, probe, others } = await runVsCode(vs, {
        dir: s.t.dir,
        workspace: s.workspace,
        more: [s.second],
        port: s.t.portBase + 990,
        env: s.env,
        extensions: [join(ROOT, 'dist', 'exai-vscode.vsix')],
        providers: true,
        screenshot: process.env.EXAI_SCREENSHOT || undefined,
      });
      expect(probe.error).toBeUndefined();
      expect(probe.tools).toContain('exai_status');
      expect(probe.tools).toContain(UPSTREAM_TOOL);
      expect(probe.status?.workspace).toBe(s.workspace);
      expect(probe.echo).toContain('hello from VS Code');
      // The daemon VS Code reached is the one exai registered for the folder; nothing was written into it.
      // The second folder, in another window, gets its own daemon on its own port.
      const [second] = others;
      expect(second?.error).toBeUndefined();
      expect(second?.status?.workspace).toBe(s.second);
      expect(second?.status?.port).not.toBe(probe.status!.port);
      const list = await runCli(['list', '--json'], s.env);
      const rows = JSON.parse(list.stdout) as { workspace: string; port: number; status: string }[];
      expect(rows.map((r) => [r.workspace, r.port, r.status]).sort()).toEqual(
        [
          [s.workspace, probe.status!.port, 'online'],
          [s.second, second!.status!.port, 'online'],
        ].sort(),
      );
      for (const ws of [s.workspace, s.second]) expect(existsSync(join(ws, '.vscode', 'mcp.json'))).toBe(false);
      // exai's daemon lists http in /health, so the extension handed VS Code Streamable HTTP (no
      // shim): the session VS Code opened is an HTTP one (it outlives the window until it expires).
      const sessions = (JSON.parse((await runCli(['list', '--json'], s.env)).stdout) as { workspace: string; sessions?: { ws: number; http: number } }[]).find((r) => r.workspace === s.workspace)?.sessions;
      expect(sessions?.http, JSON.stringify(sessions)).toBeGreaterThan(0);
      record({ client: 'VS Code + exai extension', version: `code-server ${version.split(' ')[0]} (VS Code ${probe.vscode})`, connected: 'yes', protocol: await revisionsSpoken(s), tools: `${probe.tools!.length}`, call: `exai_status port ${probe.status!.port} = registered, 2nd window ${second!.status!.port}; ${UPSTREAM_TOOL} ✓`, seconds: seconds(started) });
    } finally {
      await s.cleanup();
    }
  });

  it('Claude Code: `claude mcp list` / `claude mcp get exai` show exai connected with no manual approval', async ({ skip }) => {
    const claude = need('claude', 'Claude Code', skip);
    const s = await spawnScenario('claude');
    try {
      // What accepting Claude Code's folder-trust prompt records (~/.claude.json); the approval
      // of exai itself is exai's doing (.claude/settings.local.json).
      writeFileSync(join(s.home, '.claude.json'), JSON.stringify({ projects: { [s.workspace]: { hasTrustDialogAccepted: true } } }));
      const version = await versionOf(claude.bin!, s.env, s.workspace);
      const started = Date.now();
      const list = await runClient(claude.bin!, ['mcp', 'list'], { cwd: s.workspace, env: s.env });
      expect(list.stdout, list.stderr).toMatch(/^exai: .* - ✔ Connected$/m);
      const get = await runClient(claude.bin!, ['mcp', 'get', 'exai'], { cwd: s.workspace, env: s.env });
      expect(get.stdout).toMatch(/Status: ✔ Connected/);
      expect(get.stdout).toContain(`EXAI_WS_PORT=${s.port}`);
      const took = seconds(started);
      // The control: without exai's approval the same Claude Code leaves it pending.
      const local = join(s.workspace, '.claude', 'settings.local.json');
      renameSync(local, `${local}.off`);
      const pending = await runClient(claude.bin!, ['mcp', 'list'], { cwd: s.workspace, env: s.env });
      expect(pending.stdout).toMatch(/^exai: .*Pending approval/m);
      record({ client: 'Claude Code', version, connected: 'yes (approved by exai)', protocol: await revisionsSpoken(s), tools: '— (mcp list shows status only)', call: '— (needs a model)', seconds: took });
    } finally {
      await s.cleanup();
    }
  });

  it('Claude Code over Streamable HTTP (`--transport http`): connected through its headersHelper, no shim, no token in a file', async ({ skip }) => {
    const claude = need('claude', 'Claude Code (HTTP)', skip);
    const s = await spawnScenario('claude');
    try {
      const res = await runCli(['spawn', '--workspace', s.workspace, '--client', 'claude', '--transport', 'http'], s.env);
      expect(res.code, res.stderr).toBe(0);
      writeFileSync(join(s.home, '.claude.json'), JSON.stringify({ projects: { [s.workspace]: { hasTrustDialogAccepted: true } } }));
      const version = await versionOf(claude.bin!, s.env, s.workspace);
      const started = Date.now();
      const list = await runClient(claude.bin!, ['mcp', 'list'], { cwd: s.workspace, env: s.env });
      expect(list.stdout, list.stderr).toMatch(new RegExp(`^exai: http://127\\.0\\.0\\.1:${s.port}/mcp \\(HTTP\\) - ✔ Connected$`, 'm'));
      const took = seconds(started);
      // The control: the same entry without its headers helper sends no token and is refused.
      const file = join(s.workspace, '.mcp.json');
      const config = JSON.parse(readFileSync(file, 'utf8')) as { mcpServers: { exai: { headersHelper?: string } } };
      delete config.mcpServers.exai.headersHelper;
      writeFileSync(file, JSON.stringify(config));
      const refused = await runClient(claude.bin!, ['mcp', 'list'], { cwd: s.workspace, env: s.env });
      expect(refused.stdout).not.toMatch(/^exai: .*✔ Connected$/m);
      record({ client: 'Claude Code (HTTP)', version, connected: 'yes (headersHelper: exai token)', protocol: await revisionsSpoken(s), tools: '— (mcp list shows status only)', call: '— (needs a model)', seconds: took });
    } finally {
      await s.cleanup();
    }
  });

  it('Gemini CLI: `gemini mcp list` in the trusted folder shows exai connected', async ({ skip }) => {
    const gemini = need('gemini', 'Gemini CLI', skip);
    const s = await spawnScenario('gemini');
    try {
      // What choosing "Trust folder" in Gemini CLI's prompt records.
      mkdirSync(join(s.home, '.gemini'), { recursive: true });
      writeFileSync(join(s.home, '.gemini', 'trustedFolders.json'), JSON.stringify({ [s.workspace]: 'TRUST_FOLDER' }));
      const version = await versionOf(gemini.bin!, s.env, s.workspace);
      const started = Date.now();
      const list = await runClient(gemini.bin!, ['mcp', 'list'], { cwd: s.workspace, env: s.env });
      // gemini prints the list on stderr.
      expect(list.stdout + list.stderr).toMatch(/^✓ exai: .* - Connected$/m);
      record({ client: 'Gemini CLI', version, connected: 'yes', protocol: await revisionsSpoken(s), tools: '— (mcp list shows status only)', call: '— (needs a model)', seconds: seconds(started) });
    } finally {
      await s.cleanup();
    }
  });

  it('Codex: `codex app-server` loads exai from .codex/config.toml in the trusted project, lists its tools and calls exai_status', async ({ skip }) => {
    const codex = need('codex', 'Codex', skip);
    const s = await spawnScenario('codex');
    let app: CodexAppServer | undefined;
    try {
      // What trusting the project records in the user's Codex config.
      mkdirSync(join(s.home, '.codex'), { recursive: true });
      writeFileSync(join(s.home, '.codex', 'config.toml'), `[projects.${JSON.stringify(s.workspace)}]\ntrust_level = "trusted"\n`);
      const version = await versionOf(codex.bin!, s.env, s.workspace);
      const started = Date.now();
      app = new CodexAppServer(codex.bin!, { cwd: s.workspace, env: s.env });
      await app.request('initialize', { clientInfo: { name: 'exai-clients-test', version: '0.0.0' } });
      app.notify('initialized');
      const thread = await app.request<{ thread: { id: string } }>('thread/start', { cwd: s.workspace, ephemeral: true });
      const threadId = thread.thread.id;
      const exai = await (async () => {
        for (const deadline = Date.now() + 60_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 500))) {
          const list = await app!.request<{ data: McpServerStatus[] }>('mcpServerStatus/list', { threadId });
          const found = list.data.find((d) => d.name === 'exai');
          if (found && Object.keys(found.tools).length > 1) return found;
        }
        throw new Error(`exai never listed its tools in Codex: ${app!.stderr.slice(-2000)}`);
      })();
      const tools = Object.keys(exai.tools);
      expect(tools).toContain('exai_status');
      expect(tools).toContain(UPSTREAM_TOOL);
      const status = await app.request<ToolCallResult>('mcpServer/tool/call', { threadId, server: 'exai', tool: 'exai_status', arguments: {} });
      expect(status.structuredContent?.port).toBe(s.port);
      const echo = await app.request<ToolCallResult>('mcpServer/tool/call', { threadId, server: 'exai', tool: UPSTREAM_TOOL, arguments: { message: 'hello from Codex' } });
      expect(echo.content.map((c) => c.text).join('')).toContain('hello from Codex');
      // Codex's shim would wake the daemon that revisionsSpoken stops: close Codex first.
      await app.close();
      app = undefined;
      record({ client: 'Codex', version, connected: 'yes', protocol: await revisionsSpoken(s), tools: `${tools.length}`, call: `exai_status port ${String(status.structuredContent?.port)} = spawned; ${UPSTREAM_TOOL} ✓`, seconds: seconds(started) });
    } finally {
      await app?.close();
      await s.cleanup();
    }
  });

  it('Python SDK: initialize, list, call and progress with only the env .mcp.json lists', async ({ skip }) => {
    const py = need('python', 'Python SDK', skip);
    const s = await spawnScenario('claude');
    try {
      const started = Date.now();
      const run = await runClient(py.python!, [PYTHON_CLIENT, s.configFile, 'exai', UPSTREAM_TOOL, 'everything__trigger-long-running-operation'], { cwd: s.workspace, env: s.env, timeoutMs: 120_000 });
      expect(run.code, run.stderr).toBe(0);
      const out = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { sdk: string; server: string; tools: string[]; status: { port: number }; echo: string; progress: number[][]; progressResult: string };
      expect(out.server).toBe('exai');
      expect(out.tools).toContain('exai_status');
      expect(out.tools).toContain(UPSTREAM_TOOL);
      expect(out.status.port).toBe(s.port);
      expect(out.echo).toContain('hello from python');
      expect(out.progress).toEqual([
        [1, 3],
        [2, 3],
        [3, 3],
      ]);
      expect(out.progressResult).toMatch(/completed/i);
      record({ client: 'Python SDK', version: `mcp ${out.sdk}`, connected: 'yes', protocol: await revisionsSpoken(s), tools: `${out.tools.length}`, call: `exai_status port ${out.status.port} = spawned; ${UPSTREAM_TOOL} ✓; progress 3/3`, seconds: seconds(started) });
    } finally {
      await s.cleanup();
    }
  });
});
