import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { inject } from 'vitest';
import type { Installed } from '../../scripts/test-clients/install.mjs';
import type { ClientKind } from '../../src/supervisor/registry.js';
import { makeTestEnv, runCli, runProcess, waitFor, type CliResult, type TestEnv } from '../helpers/env.js';
import { everythingEntry, writeServers } from '../upstreams-helpers.js';
import type { Row } from './table.js';

/** A workspace with exai spawned for one client, everything isolated: EXAI_HOME, PM2_HOME, HOME, port block. */
export interface Scenario {
  t: TestEnv;
  workspace: string;
  /** The client's HOME (and XDG dirs below it): trust files go here, as the client would write them. */
  home: string;
  /** The environment a user's shell would hand the client: theirs, with the isolated dirs. */
  env: NodeJS.ProcessEnv;
  port: number;
  configFile: string;
  cleanup(): Promise<void>;
}

/** The upstream every scenario configures: its tools must reach the client through exai. */
export const UPSTREAM_TOOL = 'everything__echo';

export function installed(client: string): Installed {
  const all = inject('clients');
  return all[client] ?? { client: client as Installed['client'], ok: false, reason: 'not selected (EXAI_CLIENTS)' };
}

export function record(row: Row): void {
  appendFileSync(inject('resultsFile'), JSON.stringify(row) + '\n');
}

export function skippedRow(client: string, reason: string): Row {
  return { client, version: '—', connected: `skipped: ${reason}`, protocol: '—', tools: '—', call: '—', seconds: '—' };
}

/**
 * `exai spawn --client <kind>` in a fresh git workspace whose .exai/servers.json declares
 * server-everything, then waits until that upstream is up (so its tools are in the catalog
 * the client lists).
 */
export async function spawnScenario(kind: ClientKind): Promise<Scenario> {
  const t = makeTestEnv();
  const home = join(t.dir, 'user-home');
  mkdirSync(home, { recursive: true });
  const env: NodeJS.ProcessEnv = { ...t.env, HOME: home, XDG_CONFIG_HOME: join(home, '.config'), XDG_DATA_HOME: join(home, '.local', 'share') };
  const workspace = t.workspace('project');
  spawnSync('git', ['init', '-q'], { cwd: workspace });
  writeServers(workspace, { everything: everythingEntry() });
  const res = await runCli(['spawn', '--workspace', workspace, '--client', kind, '--json'], env);
  if (res.code !== 0) throw new Error(`exai spawn failed: ${res.stderr}`);
  const spawned = JSON.parse(res.stdout) as { port: number; configFiles: string[] };
  await waitFor(
    async () => {
      const list = await runCli(['list', '--json'], env);
      const rows = JSON.parse(list.stdout) as { workspace: string; upstreams?: { name: string; state: string }[] }[];
      return rows.find((r) => r.workspace === workspace)?.upstreams?.some((u) => u.name === 'everything' && u.state === 'up') ? true : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 500, what: 'server-everything up behind exai' },
  );
  return { t, workspace, home, env, port: spawned.port, configFile: spawned.configFiles[0]!, cleanup: () => t.cleanup() };
}

/**
 * A workspace exai never saw (not spawned, no .vscode/mcp.json) whose .exai/servers.json
 * declares server-everything, with the same isolation as spawnScenario: for the extension.
 */
export function freshScenario(): Omit<Scenario, 'port' | 'configFile'> & { second: string } {
  const t = makeTestEnv();
  const home = join(t.dir, 'user-home');
  mkdirSync(home, { recursive: true });
  const env: NodeJS.ProcessEnv = { ...t.env, HOME: home, XDG_CONFIG_HOME: join(home, '.config'), XDG_DATA_HOME: join(home, '.local', 'share') };
  const workspace = t.workspace('fresh');
  spawnSync('git', ['init', '-q'], { cwd: workspace });
  writeServers(workspace, { everything: everythingEntry() });
  const second = t.workspace('second');
  writeServers(second, { everything: everythingEntry() });
  return { t, workspace, second, home, env, cleanup: () => t.cleanup() };
}

export type Ran = CliResult;

/** Runs a client's command to completion (killed after `timeoutMs`), collecting its output. */
export function runClient(command: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<Ran> {
  return runProcess(command, args, { ...opts, timeoutMs: opts.timeoutMs ?? 120_000 });
}

/** `<cli> --version`'s first line, with a throwaway HOME (clients write into it even for this). */
export async function versionOf(bin: string, env: NodeJS.ProcessEnv, cwd: string): Promise<string> {
  const res = await runClient(bin, ['--version'], { cwd, env });
  return res.stdout.trim().split('\n')[0] ?? '?';
}

export function seconds(started: number): string {
  return ((Date.now() - started) / 1000).toFixed(1);
}

/**
 * The MCP revision(s) the client's sessions asked exai for (README's table): `exai stop` closes
 * every open session, and the daemon logs each client session's revision as it closes
 * (`session <id> (<revision>) closed …`; one-request probes are not logged).
 */
export async function revisionsSpoken(s: { env: NodeJS.ProcessEnv; workspace: string }): Promise<string> {
  const stop = await runCli(['stop', '--workspace', s.workspace], s.env);
  if (stop.code !== 0) throw new Error(`exai stop failed: ${stop.stderr}`);
  const logs = await runCli(['logs', '--workspace', s.workspace, '--lines', '2000'], s.env);
  const seen = new Set<string>();
  for (const m of logs.stdout.matchAll(/session \S+ \(([^)]+)\) closed/g)) seen.add(m[1]!);
  if (seen.size === 0) throw new Error(`no client session in the daemon's log:\n${logs.stdout.slice(-2000)}`);
  return [...seen].sort().reverse().join(', ');
}
