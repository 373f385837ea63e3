import { resolveExaiHome } from '../workspace/layout.js';
import { selectEntries } from '../fleet/select.js';
import { stopEntry } from '../fleet/stop.js';
import { withFleet } from '../start/spawn.js';
import { Registry } from '../supervisor/registry.js';
import { failure, writeFleetEvent, writeJson, writeOut, writeWarning } from './output.js';
import { parseTargets } from './targets.js';

export async function run(argv: string[]): Promise<number> {
  let json = argv.includes('--json');
  try {
    const target = parseTargets('stop', argv);
    json = target.json;
    const home = resolveExaiHome();
    const registry = new Registry(home);
    const entries = selectEntries(registry, target);
    const stopped = entries.length
      ? await withFleet(home, async (pm2) => {
          const out: { workspace: string; name: string; port: number; stopped: boolean }[] = [];
          for (const e of entries) out.push({ workspace: e.workspace, name: e.name, port: e.port, stopped: await stopEntry(pm2, registry, e) });
          return out;
        }, writeWarning, process.env, new Set(), writeFleetEvent)
      : [];
    if (json) writeJson(stopped);
    else if (!stopped.length) writeOut('no workspaces to stop');
    else for (const s of stopped) writeOut(`${s.stopped ? 'stopped' : 'not running'}  ${s.name}  port ${s.port}  ${s.workspace}`);
    return 0;
  } catch (err) {
    return failure(err, json);
  }
}
