import { resolveExaiHome } from '../workspace/layout.js';
import { removeEntry, selectEntries } from '../supervisor/fleet.js';
import { withFleet } from '../supervisor/resurrect.js';
import { Registry } from '../supervisor/registry.js';
import { failure, writeErr, writeFleetEvent, writeJson, writeOut } from './output.js';
import { parseTargets } from './targets.js';

export async function run(argv: string[]): Promise<number> {
  let json = argv.includes('--json');
  try {
    const target = parseTargets('remove', argv);
    json = target.json;
    const home = resolveExaiHome();
    const registry = new Registry(home);
    const entries = selectEntries(registry, target);
    const removed = entries.length
      ? await withFleet(
          home,
          async (pm2) => {
            const out: { workspace: string; name: string; port: number; removed: boolean; configFiles: string[]; problems: string[] }[] = [];
            for (const e of entries) out.push({ workspace: e.workspace, name: e.name, port: e.port, ...(await removeEntry(home, pm2, registry, e)) });
            return out;
          },
          (m) => writeErr(`exai: warning: ${m}`),
          process.env,
          new Set(entries.map((e) => e.id)),
          writeFleetEvent,
        )
      : [];
    // A refused remove is an error (nothing of it changed); a problem after removing is a warning.
    for (const r of removed) for (const p of r.problems) writeErr(`exai: ${r.removed ? 'warning: ' : ''}${p}`);
    if (json) writeJson(removed);
    else if (!removed.length) writeOut('no workspaces to remove');
    else
      for (const r of removed) {
        if (!r.removed) writeOut(`kept     ${r.name}  port ${r.port}  ${r.workspace}  (fix the file named on stderr, then run exai remove again)`);
        else writeOut(`removed  ${r.name}  port ${r.port} freed  ${r.workspace}${r.configFiles.length ? `\n         took exai out of ${r.configFiles.join(', ')}` : ''}`);
      }
    return removed.some((r) => r.problems.length) ? 1 : 0;
  } catch (err) {
    return failure(err, json);
  }
}
