import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse as parseJsonc } from 'jsonc-parser';
import { variablesRead } from '../daemon/upstreams/placeholders.js';
import { launchVariables, readLaunchEnv } from '../workspace/launch-env.js';
import { daemonStatus } from '../start/health.js';
import type { ExaiStatus, UpstreamStatus } from '../workspace/status.js';
import { monotonicNow } from '../common/clock.js';

/**
 * The workspace's own MCP servers that did not come up, one readable line each (issue 15
 * item 5: a servers.json command that does not exist must not pass in silence). After a fresh
 * start it waits, up to `settleMs`, until every server has come up or failed at least once.
 */
export async function upstreamProblems(opts: { port: number; token: string; workspace: string; status?: ExaiStatus; settleMs?: number }): Promise<string[]> {
  let status = opts.status;
  const deadline = monotonicNow() + (opts.settleMs ?? 0);
  while (status && status.upstreams.some(unsettled) && monotonicNow() < deadline) {
    await sleep(150);
    status = await daemonStatus(opts.port, opts.token, 2_000).catch(() => status);
  }
  const file = serversFile(opts.workspace);
  return (status?.upstreams ?? []).flatMap((u) => {
    const trouble = upstreamTrouble(u);
    return trouble ? [`${trouble} (fix it in ${file}; saving the file retries it)`] : [];
  });
}

/** The workspace's servers.json, where the fix for an upstream's trouble goes. */
export function serversFile(workspace: string): string {
  return join(workspace, '.exai', 'servers.json');
}

/**
 * What is wrong with one upstream, as one readable line, or undefined when nothing is: it
 * failed for good, or it is down with an error to show (a missing command keeps it restarting).
 * Down without an error — starting, or stopped on purpose (idle, lazy, config removed) — is fine.
 * Used alike by `spawn`, `exai list` and `exai doctor`.
 */
export function upstreamTrouble(u: UpstreamStatus): string | undefined {
  // Idle is a stop exai asked for, whatever error an earlier run left behind.
  if (u.state === 'up' || u.state === 'idle' || (u.state !== 'failed' && !u.lastError)) return undefined;
  const why = firstLine(u.lastError ?? u.stderrTail.at(-1) ?? 'no error recorded');
  // A failure exai knows the fix of (a revision the server refuses) is not retried.
  if (u.state === 'failed' && u.fix) return `upstream ${u.name} cannot start: ${why.replace(/^failed to start: /, '')}`;
  return u.state === 'failed' ? `upstream ${u.name} failed after ${u.restarts} restart(s): ${why}` : `upstream ${u.name} did not start: ${why}`;
}

/** Still on its way: starting or restarting with no error to show yet. */
function unsettled(u: UpstreamStatus): boolean {
  return (u.state === 'starting' || u.state === 'restarting') && !u.lastError;
}

function firstLine(text: string): string {
  const line = text.split('\n').find((l) => l.trim() !== '')?.trim() ?? text;
  return line.length > 200 ? `${line.slice(0, 197)}...` : line;
}

/**
 * The variables the workspace's servers.json reads (`${env:NAME}`, `${NAME}`), and those the
 * daemon's recorded launch environment has no value for: the servers would get an empty
 * string. Empty when the file is absent or unreadable (loading it reports that).
 */
export function serverVariables(home: string, id: string, workspace: string): { read: string[]; unset: string[] } {
  let text: string;
  try {
    text = readFileSync(serversFile(workspace), 'utf8');
  } catch {
    return { read: [], unset: [] };
  }
  const recorded = readLaunchEnv(home, id);
  return variablesRead(parseJsonc(text, [], { allowTrailingComma: true }), recorded ? launchVariables(recorded) : {});
}

/** One line for `serverVariables`' unset names, with the command that passes them. */
export function unsetVariablesWarning(workspace: string, names: readonly string[], shellArg: (text: string) => string = JSON.stringify): string {
  const they = names.length > 1 ? 'they are' : 'it is';
  return `${serversFile(workspace)} reads ${names.join(', ')}, which the daemon's environment does not have: the server gets an empty string; from a shell where ${they} set: exai spawn --workspace ${shellArg(workspace)} ${names.map((n) => `--pass-env ${n}`).join(' ')}`;
}
