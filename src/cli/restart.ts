import { isIdleMarked } from '../workspace/idle-marker.js';
import { resolveExaiHome } from '../workspace/layout.js';
import { selectEntries } from '../fleet/select.js';
import { Registry } from '../supervisor/registry.js';
import { spawnWorkspace, type SpawnResult } from '../start/spawn.js';
import { failure, writeErr, writeFleetEvent, writeJson, writeOut } from './output.js';
import { parseTargets } from './targets.js';
import { shellArg } from '../common/shell.js';

/** Restart is a spawn that never reuses: same port, health-checked, configs kept in step. */
export async function run(argv: string[]): Promise<number> {
  let json = argv.includes('--json');
  try {
    const target = parseTargets('restart', argv);
    json = target.json;
    const home = resolveExaiHome();
    const selected = selectEntries(new Registry(home), target);
    // `--all` is a bulk path: a workspace stopped on purpose stays stopped (DESIGN.md "Lifecycle"),
    // and an idle one stays asleep: it starts with the current exai at its next client anyway.
    const skipped = (e: (typeof selected)[number]): string | undefined =>
      !target.all ? undefined : e.stopped ? 'stopped with `exai stop`' : isIdleMarked(home, e.id) ? 'idle (it wakes with its next client)' : undefined;
    const entries = selected.filter((e) => skipped(e) === undefined);
    if (!json) for (const e of selected) if (!entries.includes(e)) writeOut(`skipped    ${e.name}  ${skipped(e)}; \`exai restart --workspace ${shellArg(e.workspace)}\` starts it now`);
    const results: SpawnResult[] = [];
    for (const entry of entries) {
      results.push(
        await spawnWorkspace({
          workspace: entry.workspace,
          home,
          restart: true,
          onWarning: (m) => writeErr(`exai: warning: ${m}`),
          onFleet: writeFleetEvent,
        }),
      );
    }
    if (json) writeJson(results);
    else if (!results.length) writeOut('no workspaces to restart');
    else for (const r of results) writeOut(`restarted  ${r.name}  port ${r.port}  pid ${r.pid}  ${r.workspace}`);
    return 0;
  } catch (err) {
    return failure(err, json);
  }
}
