import { EXIT_SIGINT, EXIT_SIGTERM } from '../common/exit-codes.js';
import { resolveExaiHome } from '../workspace/layout.js';
import { removeEntry } from '../fleet/remove.js';
import { selectEntries } from '../fleet/select.js';
import { withFleet } from '../start/ensure.js';
import { Registry } from '../supervisor/registry.js';
import { testPause, watchInterrupts } from './interrupts.js';
import { failure, writeErr, writeFleetEvent, writeJson, writeOut } from './output.js';
import { parseTargets } from './targets.js';


export async function run(argv: string[]): Promise<number> {
  let json = argv.includes('--json');
  // Ctrl-C midway would leave a workspace half removed (no daemon, no token, configs gone, but
  // still registered, so list, doctor and the fleet brought back offer to start it again): a
  // workspace whose removal began is removed to the end; those not begun are left as they are.
  const interrupts = watchInterrupts('remove');
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
            for (const e of entries) {
              if (interrupts.signal()) break;
              out.push({ workspace: e.workspace, name: e.name, port: e.port, ...(await removeEntry(home, pm2, registry, e, testPause(interrupts.arrived))) });
            }
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
    else if (!removed.length && !interrupts.signal()) writeOut('no workspaces to remove');
    else
      for (const r of removed) {
        if (!r.removed) writeOut(`kept     ${r.name}  port ${r.port}  ${r.workspace}  (fix the file named on stderr, then run exai remove again)`);
        else writeOut(`removed  ${r.name}  port ${r.port} freed  ${r.workspace}${r.configFiles.length ? `\n         took exai out of ${r.configFiles.join(', ')}` : ''}`);
      }
    const signal = interrupts.signal();
    if (signal) {
      const left = entries.length - removed.length;
      const done = removed.filter((r) => r.removed).map((r) => r.workspace);
      const finished = done.length ? `the remove was finished first: ${done.join(', ')} removed` : 'nothing was removed';
      writeErr(`exai: ${signal} received; ${finished}${left ? `; ${left} workspace(s) not begun were left as they are (run exai remove again for them)` : ''}`);
      if (left || !done.length) return signal === 'SIGTERM' ? EXIT_SIGTERM : EXIT_SIGINT;
    }
    return removed.some((r) => r.problems.length) ? 1 : 0;
  } catch (err) {
    return failure(err, json);
  } finally {
    interrupts.dispose();
  }
}
