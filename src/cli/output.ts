import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ExaiError, errorMessage, failureLines, oneLine } from '../common/errors.js';
import { exitAfterFlush, failureExitCode } from '../common/exit-codes.js';
import type { FleetEvent } from '../start/ensure.js';

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
  if (err instanceof ExaiError && json) process.stdout.write(JSON.stringify({ error: { code: err.code, message: err.message } }) + '\n');
  for (const line of failureLines(err)) writeErr(line);
  return failureExitCode(err instanceof ExaiError ? err.code : undefined);
}

export { oneLine };

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

export { exitAfterFlush };
