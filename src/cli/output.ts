import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ExaiError, errorMessage } from '../common/errors.js';
import type { FleetEvent } from '../supervisor/resurrect.js';

export function writeErr(line: string): void {
  process.stderr.write(line.endsWith('\n') ? line : `${line}\n`);
}

export function writeOut(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

export function writeJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

export function writeWarning(message: string): void {
  writeErr(`exai: warning: ${message}`);
}

/** Says on stderr that pm2 was dead and the fleet is coming back (instead of seconds of silence). */
export function writeFleetEvent(event: FleetEvent): void {
  const n = (count: number) => `${count} workspace${count === 1 ? '' : 's'}`;
  if (event.phase === 'restoring') writeErr(`exai: pm2 was not running; bringing back ${n(event.count)}…`);
  else writeErr(`exai: pm2 was not running; brought back ${n(event.restored)}${event.failed ? ` (${event.failed} could not come back: see the warnings above)` : ''}`);
}

/** One line on stderr, and the exit code: 2 for usage errors, 1 for everything else. */
export function failure(err: unknown, json = false): number {
  if (err instanceof ExaiError) {
    if (json) process.stdout.write(JSON.stringify({ error: { code: err.code, message: err.message } }) + '\n');
    writeErr(`exai: ${err.code}: ${oneLine(err.message)}`);
    return err.code === 'USAGE' ? 2 : 1;
  }
  writeErr(`exai: unexpected error: ${oneLine(errorMessage(err))}`);
  if (process.env.EXAI_DEBUG && err instanceof Error && err.stack) writeErr(err.stack);
  return 1;
}

/** A message with its line breaks folded: every finding and error is one line. */
export function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ');
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** parseArgs with exai's usage errors: unknown flags and missing values are exit 2. */
export function parseCommand<O extends Options>(command: string, argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new ExaiError('USAGE', `exai ${command}: ${errorMessage(err)}; run \`exai ${command} --help\` for usage`);
  }
}

/** A port given on the command line: an integer in 1..65535. */
export function parsePortOption(value: string | undefined, flag = '--port'): number | undefined {
  if (value === undefined) return undefined;
  const port = Number(value);
  if (!/^\d+$/.test(value) || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ExaiError('USAGE', `${flag} ${JSON.stringify(value)} is not a port; give an integer from 1 to 65535`);
  }
  return port;
}

/**
 * The pm2 client (and anything else a command leaves open) keeps the event loop alive; the
 * CLI is done when its command is, so exit explicitly once stdout and stderr are flushed.
 */
export function exitAfterFlush(code: number): void {
  let pending = 2;
  const done = () => {
    if (--pending === 0) process.exit(code);
  };
  process.stdout.write('', done);
  process.stderr.write('', done);
}
