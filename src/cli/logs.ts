import { ExaiError } from '../common/errors.js';
import { homeLayout, resolveExaiHome } from '../workspace/layout.js';
import { selectEntries } from '../supervisor/fleet.js';
import { followFile, mergeByTime, tailLines } from '../supervisor/logs.js';
import { Registry } from '../supervisor/registry.js';
import { failure, parseCommand, writeOut } from './output.js';

export async function run(argv: string[]): Promise<number> {
  try {
    const args = parseCommand('logs', argv, {
      workspace: { type: 'string', short: 'w' },
      lines: { type: 'string', short: 'n' },
      follow: { type: 'boolean', short: 'f' },
    });
    if (!args.workspace) throw new ExaiError('USAGE', 'exai logs needs --workspace DIR');
    const lines = args.lines === undefined ? 50 : Number(args.lines);
    if (!Number.isInteger(lines) || lines < 0) {
      throw new ExaiError('USAGE', `--lines ${JSON.stringify(args.lines)} is not a count; give a whole number such as 100`);
    }
    const home = resolveExaiHome();
    const [entry] = selectEntries(new Registry(home), { workspace: args.workspace });
    if (!entry) return 1;
    const layout = homeLayout(home);
    const out = layout.outLog(entry.name);
    const err = layout.errLog(entry.name);
    const merged = mergeByTime({ label: 'out |', lines: tailLines(out, lines) }, { label: 'err |', lines: tailLines(err, lines) });
    if (merged.length) writeOut(merged.slice(-lines).join('\n'));
    else if (!args.follow) writeOut(`no log lines yet for ${entry.name} (${out})`);
    if (!args.follow) return 0;
    const print = (label: string) => (text: string) => {
      for (const line of text.split('\n')) if (line !== '') process.stdout.write(`${label} ${line}\n`);
    };
    const stops = [followFile(out, print('out |')), followFile(err, print('err |'))];
    await new Promise<void>((resolve) => {
      const done = () => resolve();
      process.once('SIGINT', done);
      process.once('SIGTERM', done);
      process.stdout.once('error', done); // `exai logs -f | head` closes the pipe
    });
    for (const stop of stops) stop();
    return 0;
  } catch (err) {
    return failure(err);
  }
}
