import { ExaiError } from '../common/errors.js';
import { homeLayout, resolveExaiHome } from '../workspace/layout.js';
import { selectEntries } from '../fleet/select.js';
import { followFile, lineStamp, mergeByTime, tailLines, type LogLine } from '../fleet/logs.js';
import { Registry } from '../supervisor/registry.js';
import { failure, parseCommand, writeOut } from './output.js';
import { checkWorkspaceArg } from './workspace-arg.js';

export const options = {
  workspace: { type: 'string', short: 'w' },
  lines: { type: 'string', short: 'n' },
  follow: { type: 'boolean', short: 'f' },
  json: { type: 'boolean' },
} as const;

/** Human: `out | <line>`; --json: one object per line, `{time, stream, line}` (NDJSON). */
function formatter(json: boolean): (l: LogLine) => string {
  return json ? (l) => JSON.stringify({ time: l.time, stream: l.stream, line: l.line }) : (l) => `${l.stream} | ${l.line}`;
}

export async function run(argv: string[]): Promise<number> {
  let json = argv.includes('--json');
  try {
    const args = parseCommand('logs', argv, options);
    json = args.json ?? false;
    if (!args.workspace) throw new ExaiError('USAGE', 'exai logs needs --workspace DIR');
    checkWorkspaceArg(args.workspace, 'logs');
    const lines = args.lines === undefined ? 50 : /^\d+$/.test(args.lines) ? Number(args.lines) : NaN;
    if (!Number.isSafeInteger(lines)) {
      throw new ExaiError('USAGE', `--lines ${JSON.stringify(args.lines)} is not a count; give a whole number such as 100 (0 for none)`);
    }
    const home = resolveExaiHome();
    const [entry] = selectEntries(new Registry(home), { workspace: args.workspace });
    if (!entry) return 1;
    const layout = homeLayout(home);
    const files = { out: layout.outLog(entry.name), err: layout.errLog(entry.name) };
    const format = formatter(json);
    const merged = mergeByTime({ stream: 'out', lines: tailLines(files.out, lines) }, { stream: 'err', lines: tailLines(files.err, lines) });
    if (merged.length) writeOut(merged.slice(-lines).map(format).join('\n'));
    else if (!args.follow && !json && lines > 0) process.stderr.write(`no log lines yet for ${entry.name} (${files.out})\n`);
    if (!args.follow) return 0;
    const stops = (['out', 'err'] as const).map((stream) => {
      let time: string | null = null; // a line without a stamp continues the one before it
      return followFile(files[stream], (lines) => {
        for (const line of lines) {
          if (line === '') continue;
          time = lineStamp(line) ?? time;
          process.stdout.write(format({ time, stream, line }) + '\n');
        }
      });
    });
    await new Promise<void>((resolve) => {
      const done = () => resolve();
      process.once('SIGINT', done);
      process.once('SIGTERM', done);
      process.stdout.once('error', done); // `exai logs -f | head` closes the pipe
    });
    for (const stop of stops) stop();
    return 0;
  } catch (err) {
    return failure(err, json);
  }
}
