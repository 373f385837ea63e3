/**
 * A wake resolves EXAI_HOME once (issue 22): a strict client (env: HOME, PATH and the exai
 * entry's env from the config exai wrote) whose shim wakes an idle workspace reads
 * registry.json at most twice (its connect, then the start's reservation under the registry
 * lock) and the token once, counted in every process of the shim's tree by a preloaded
 * counter (test/fixtures/count-reads.cjs). Before the start path was resolved once: 12 and 6.
 */
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, describe, expect, it } from 'vitest';
import { isIdleMarked } from '../src/workspace/idle-marker.js';
import { ROOT, makeTestEnv, runPm2, spawnJson, waitFor } from './helpers/env.js';

const t = makeTestEnv();
afterAll(() => t.cleanup());

async function pm2Status(env: NodeJS.ProcessEnv, name: string): Promise<string | undefined> {
  const res = await runPm2(['jlist'], env);
  const line = res.stdout.split('\n').find((l) => l.startsWith('['));
  return (JSON.parse(line ?? '[]') as { name: string; pm2_env: { status: string } }[]).find((a) => a.name === name)?.pm2_env.status;
}

describe('waking an idle workspace', () => {
  it('reads registry.json at most twice and the token once in the shim', async () => {
    const ws = t.workspace('wake-reads');
    const spawned = await spawnJson(t.env, ws, '--idle-timeout', '1s');
    // The daemon's own event first (its idle marker), then pm2's record of the exit.
    await waitFor(() => (isIdleMarked(t.home, spawned.id) ? true : undefined), { what: 'the daemon to mark itself idle', timeoutMs: 60_000, intervalMs: 50 });
    await waitFor(async () => ((await pm2Status(t.env, spawned.name)) === 'stopped' ? true : undefined), { what: 'pm2 to see it exit', timeoutMs: 60_000, intervalMs: 250 });

    const entry = (JSON.parse(readFileSync(join(ws, '.vscode', 'mcp.json'), 'utf8')) as { servers: { exai: { command: string; args: string[]; env: Record<string, string> } } }).servers.exai;
    const reads = join(t.dir, 'reads');
    mkdirSync(reads);
    const env: Record<string, string> = { HOME: process.env.HOME ?? '', PATH: process.env.PATH ?? '' };
    for (const [k, v] of Object.entries(entry.env)) env[k] = v.replaceAll('${workspaceFolder}', ws);
    env.NODE_OPTIONS = `--require ${join(ROOT, 'test', 'fixtures', 'count-reads.cjs')}`;
    env.EXAI_TEST_READS_DIR = reads;
    const client = new Client({ name: 'wake-reads', version: '1.0.0' });
    await client.connect(new StdioClientTransport({ command: entry.command, args: entry.args, env, cwd: ws, stderr: 'pipe' }));
    try {
      const res = await client.callTool({ name: 'exai_status', arguments: {} });
      expect((res.structuredContent as { port?: number }).port).toBe(spawned.port);
    } finally {
      await client.close();
    }
    const total = { registry: 0, token: 0 };
    for (const file of readdirSync(reads)) {
      const c = JSON.parse(readFileSync(join(reads, file), 'utf8')) as typeof total;
      total.registry += c.registry;
      total.token += c.token;
    }
    // At least one of each: the counter saw the shim's reads (a counter that sees nothing proves nothing).
    expect(total.registry).toBeGreaterThanOrEqual(1);
    expect(total.token).toBe(1);
    expect(total.registry).toBeLessThanOrEqual(2);
  });
});
