import { existsSync } from 'node:fs';
import { resolveExaiHome } from '../workspace/layout.js';
import { listRows, probeAhead, type ListRow } from '../fleet/list.js';
import { unsetVariablesWarning, upstreamTrouble } from '../fleet/upstream-report.js';
import { withFleet } from '../start/spawn.js';
import { Registry } from '../supervisor/registry.js';
import { bytes, duration, homePath, outputWidth, shellArg, table, type Column } from './format.js';
import { failure, parseCommand, writeErr, writeFleetEvent, writeJson, writeOut, writeWarning } from './output.js';

export const options = { json: { type: 'boolean' } } as const;

/**
 * `up/total`, then how many are idle (not running until a request needs them: lazy ones
 * before first use, any after its idleTimeout; nothing wrong), with a mark when something
 * needs attention (details follow on stderr).
 */
function upstreamCell(r: ListRow): string {
  if (!r.upstreams) return '-';
  const up = r.upstreams.filter((u) => u.state === 'up').length;
  const idle = r.upstreams.filter((u) => u.state === 'idle').length;
  const failed = r.upstreams.some((u) => upstreamTrouble(u) !== undefined);
  return `${up}/${r.upstreams.length}${idle ? `, ${idle} idle` : ''}${failed || r.upstreamsConfigError ? ' !' : ''}`;
}

/**
 * Most important first; what a narrow terminal leaves out goes first (dropRank 1). The pm2
 * name stays whole as long as anything else can give way: it is what `pm2 show` takes.
 */
const COLUMNS: Column[] = [
  { header: 'WORKSPACE', shrink: { soft: 24, hard: 10 } },
  { header: 'PM2 NAME', shrink: { hard: 12 } },
  { header: 'PORT' },
  { header: 'STATUS' },
  { header: 'HEALTHY', dropRank: 8 },
  { header: 'UPSTREAMS', dropRank: 7 },
  { header: 'SESSIONS', dropRank: 6 },
  { header: 'PID', dropRank: 5 },
  { header: 'UPTIME', dropRank: 4 },
  { header: 'RESTARTS', dropRank: 3 },
  { header: 'MEMORY', dropRank: 2 },
  { header: 'CPU', dropRank: 1 },
];

function cells(r: ListRow): string[] {
  const online = r.status === 'online';
  return [
    homePath(r.workspace),
    r.name,
    String(r.port),
    r.status, // as pm2 (or the fleet) reports it, known to exai or not
    online ? (r.healthy ? 'yes' : 'no') : '-',
    upstreamCell(r),
    r.sessions ? `ws ${r.sessions.ws} http ${r.sessions.http}` : '-',
    r.pid ? String(r.pid) : '-',
    duration(r.uptimeMs),
    String(r.restarts),
    bytes(r.memory),
    online ? `${r.cpu}%` : '-',
  ];
}

/**
 * What to run for the workspaces pm2 no longer runs: `stopped` (by `exai stop` or `pm2 stop`)
 * and `not started` (no pm2 app: `pm2 delete`, or a fleet that did not come back) start with
 * spawn on their own ports, and so does a daemon that gave up its port to another process
 * (spawn moves it); another `errored` first needs its logs read. Other states (online, idle:
 * wakes on its next client, launching…) need nothing.
 */
function comebackHints(rows: ListRow[]): string[] {
  const lines: string[] = [];
  for (const r of rows) {
    const ws = shellArg(r.workspace);
    if (!existsSync(r.workspace)) lines.push(`  exai remove --workspace ${ws}    (its folder is gone)`);
    else if (r.portHolder) lines.push(`  exai spawn --workspace ${ws}    (port ${r.port} is held by ${r.portHolder}; spawn moves it)`);
    else if (r.status === 'stopped' || r.status === 'not started') lines.push(`  exai spawn --workspace ${ws}    (${r.status})`);
    else if (r.status === 'errored') lines.push(`  exai logs --workspace ${ws}, then exai restart --workspace ${ws}    (errored)`);
  }
  // Several without a pm2 app (pm2 was killed and restarted by something else than exai): one
  // command brings them all back (it restarts the running ones too; stopped and idle ones stay).
  const notStarted = rows.filter((r) => r.status === 'not started' && existsSync(r.workspace)).length;
  if (notStarted >= 2) lines.push(`  exai restart --all    (all ${notStarted} not started at once; running ones restart too, stopped and idle ones stay)`);
  return lines.length ? ['', 'pm2 no longer runs these; to bring them back (or clear them up):', ...lines] : [];
}

export async function run(argv: string[]): Promise<number> {
  let json = argv.includes('--json');
  try {
    const args = parseCommand('list', argv, options);
    json = args.json ?? false;
    const home = resolveExaiHome();
    const registry = new Registry(home);
    const entries = () => Object.values(registry.read().workspaces).sort((a, b) => a.port - b.port);
    const known = entries();
    // The daemons answer while pm2 connects; read again once it is: bringing the fleet back may have moved a workspace.
    const ahead = probeAhead(home, known);
    const rows = known.length ? await withFleet(home, (pm2) => listRows(home, pm2, entries(), ahead), writeWarning, process.env, new Set(), writeFleetEvent) : [];
    if (json) {
      writeJson(rows);
      return 0;
    }
    if (!rows.length) {
      writeOut('no workspaces yet; start one with `exai spawn --workspace DIR`');
      return 0;
    }
    // The hints carry whole paths (a command cut short would not run), so only the table is fitted.
    writeOut([table(COLUMNS, rows.map(cells), outputWidth()), ...comebackHints(rows)].join('\n'));
    for (const r of rows) {
      const problems = [
        ...(r.upstreamsConfigError ? [r.upstreamsConfigError] : []),
        ...(r.upstreams ?? []).flatMap((u) => upstreamTrouble(u) ?? []),
        ...(r.unsetVariables ? [unsetVariablesWarning(r.workspace, r.unsetVariables, shellArg)] : []),
      ];
      for (const p of problems) writeErr(`exai: warning: ${homePath(r.workspace)}: ${p}`);
    }
    return 0;
  } catch (err) {
    return failure(err, json);
  }
}
