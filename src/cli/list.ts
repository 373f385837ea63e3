import { resolveExaiHome } from '../common/paths.js';
import { listRows } from '../supervisor/fleet.js';
import { withPm2 } from '../supervisor/pm2.js';
import { Registry } from '../supervisor/registry.js';
import { bytes, duration, shortPath, table } from './format.js';
import { failure, parseCommand, writeJson, writeOut } from './output.js';

export async function run(argv: string[]): Promise<number> {
  let json = argv.includes('--json');
  try {
    const args = parseCommand('list', argv, { json: { type: 'boolean' } });
    json = args.json ?? false;
    const home = resolveExaiHome();
    const registry = new Registry(home);
    const entries = Object.values(registry.read().workspaces).sort((a, b) => a.port - b.port);
    const rows = entries.length ? await withPm2(home, (pm2) => listRows(home, pm2, entries)) : [];
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
        ['WORKSPACE', 'PORT', 'STATUS', 'PID', 'UPTIME', 'RESTARTS', 'MEMORY', 'CPU', 'HEALTHY'],
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
        ]),
      ),
    );
    return 0;
  } catch (err) {
    return failure(err, json);
  }
}
