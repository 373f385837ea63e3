import { resolveExaiHome } from '../workspace/layout.js';
import { runDoctor } from '../fleet/doctor.js';
import { withFleet } from '../start/ensure.js';
import { failure, oneLine, parseCommand, writeFleetEvent, writeJson, writeOut, writeWarning } from './output.js';

export const options = {
  fix: { type: 'boolean' },
  yes: { type: 'boolean', short: 'y' },
  json: { type: 'boolean' },
} as const;

export async function run(argv: string[]): Promise<number> {
  let json = argv.includes('--json');
  try {
    const args = parseCommand('doctor', argv, options);
    json = args.json ?? false;
    const home = resolveExaiHome();
    const findings = await withFleet(home, (pm2) => runDoctor({ home, pm2, fix: args.fix ?? false, yes: args.yes ?? false }), writeWarning, process.env, new Set(), writeFleetEvent);
    const problems = findings.filter((f) => f.status === 'problem').length;
    if (json) {
      writeJson({ ok: problems === 0, findings });
    } else {
      for (const f of findings) {
        const mark = f.status === 'ok' ? 'ok     ' : f.status === 'fixed' ? 'fixed  ' : f.status === 'warning' ? 'WARNING' : 'PROBLEM';
        writeOut(oneLine(`${mark}  ${f.scope}: ${f.message}${f.fix ? ` — fix: ${f.fix}` : ''}`));
      }
      const warnings = findings.filter((f) => f.status === 'warning').length;
      const also = warnings ? ` (${warnings} warning(s))` : '';
      writeOut(problems ? `${problems} problem(s) found${also}${args.fix ? '' : '; `exai doctor --fix` repairs what it can'}` : `no problems found${also}`);
    }
    return problems ? 1 : 0;
  } catch (err) {
    return failure(err, json);
  }
}
