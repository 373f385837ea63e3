import { resolveExaiHome } from '../workspace/layout.js';
import { listRows, type ListRow } from '../supervisor/fleet.js';
import { withFleet } from '../supervisor/spawn.js';
import { Registry } from '../supervisor/registry.js';
import { bytes, duration, shortPath, table } from './format.js';
import { failure, parseCommand, writeErr, writeJson, writeOut } from './output.js';

/** `up/total`, with a mark when something needs attention (details follow on stderr). */
function upstreamCell(r: ListRow): string {
  if (!r.upstreams) return '-';
  const up = r.upstreams.filter((u) => u.state === 'up').length;
  const failed = r.upstreams.some((u) => u.state === 'failed');
  return `${up}/${r.upstreams.length}${failed || r.upstreamsConfigError ? ' !' : ''}`;
}

export async function run(argv: string[]): Promise<number> {
  let json = argv.includes('--json');
  try {
    const args = parseCommand('list', argv, { json: { type: 'boolean' } });
    json = args.json ?? false;
    const home = resolveExaiHome();
    const registry = new Registry(home);
    const entries = () => Object.values(registry.read().workspaces).sort((a, b) => a.port - b.port);
    // Read again once pm2 is connected: bringing the fleet back may have moved a workspace.
    const rows = entries().length ? await withFleet(home, (pm2) => listRows(home, pm2, entries()), (m) => writeErr(`exai: warning: ${m}`)) : [];
    if (json) {
      writeJson(rows);
      return 0;
    }
    if (!rows.length) {
      writeOut('no workspaces yet; start one with `exai spawn --workspace DIR`');
      return 0;
    }
    writeOut(
      table(
        ['WORKSPACE', 'PORT', 'STATUS', 'PID', 'UPTIME', 'RESTARTS', 'MEMORY', 'CPU', 'HEALTHY', 'UPSTREAMS'],
        rows.map((r) => [
          shortPath(r.workspace),
          String(r.port),
          r.status,
          r.pid ? String(r.pid) : '-',
          duration(r.uptimeMs),
          String(r.restarts),
          bytes(r.memory),
          r.status === 'online' ? `${r.cpu}%` : '-',
          r.healthy ? 'yes' : 'no',
          upstreamCell(r),
        ]),
      ),
    );
    for (const r of rows) {
      const problems = [
        ...(r.portHolder ? [`port ${r.port} is held by ${r.portHolder}; \`exai spawn --workspace ${JSON.stringify(r.workspace)}\` moves it to a free port`] : []),
        ...(r.upstreamsConfigError ? [r.upstreamsConfigError] : []),
        ...(r.upstreams ?? []).filter((u) => u.state === 'failed').map((u) => `upstream ${u.name} failed: ${u.lastError ?? 'see exai logs'}`),
      ];
      for (const p of problems) writeErr(`exai: warning: ${shortPath(r.workspace)}: ${p}`);
    }
    return 0;
  } catch (err) {
    return failure(err, json);
  }
}
