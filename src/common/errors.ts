/**
 * Local errors carry a stable string code (for `--json` output and tests) and a message that
 * says what to do next. The CLI layer maps them to exit codes; library code only throws them.
 * One table for every local code, whoever throws it (the dial's, the shim's own reasons too);
 * test/tables.test.ts fails on a code used in src/ but missing here. Node's own system errors
 * keep their errno codes (`ENOENT`, …: errnoCode below).
 */
export type ErrorCode =
  | 'USAGE'
  | 'ENV_INVALID'
  | 'WORKSPACE_NOT_FOUND'
  | 'WORKSPACE_NOT_REGISTERED'
  | 'PORT_TAKEN'
  | 'PORT_MOVED'
  | 'ADDR_IN_USE'
  | 'NO_FREE_PORT'
  | 'REGISTRY_CORRUPT'
  | 'REGISTRY_WRITE_FAILED'
  | 'HOME_NOT_WRITABLE'
  | 'LOCK_TIMEOUT'
  | 'CONFIG_UNPARSABLE'
  | 'CONFIG_WRITE_FAILED'
  | 'CONFIG_READ_ONLY'
  | 'INTERRUPTED'
  | 'PM2_FAILED'
  | 'DAEMON_UNHEALTHY'
  | 'DAEMON_BUSY'
  | 'TOKEN_MISSING'
  | 'CONNECT_FAILED'
  | 'DAEMON_FILE_INVALID'
  | 'WORKSPACE_STOPPED'
  | 'WORKSPACE_IDLE'
  | 'STATE_DIR_MISMATCH'
  | 'PORT_FORBIDDEN'
  | 'APP_NOT_OWNED'
  // Dialing a daemon's MCP WebSocket (transport/dial.ts DialError) and GET /health.
  | 'DAEMON_DOWN'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'TIMEOUT'
  | 'HANDSHAKE_FAILED'
  // Why the shim cannot reach its daemon yet (shim/run.ts): it starts it, or says why not.
  | 'NO_TOKEN'
  | 'FOREIGN_DAEMON'
  | 'WORKSPACE_REMOVED';

/**
 * Marks every ExaiError, from whichever copy of this module made it: the shim's bundle and the
 * start path it loads (dist/bundle/shim.cjs, spawn.cjs) each hold their own class,
 * and a start error crosses from one to the other (scripts/bundle.mjs).
 */
const BRAND = Symbol.for('exai.ExaiError');

export class ExaiError extends Error {
  override readonly name = 'ExaiError';
  readonly [BRAND] = true;
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** `instanceof` by the brand, not the prototype chain, so it holds across bundles. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as { [BRAND]?: unknown })[BRAND] === true;
  }
}

export function isExaiError(err: unknown, code?: ErrorCode): err is ExaiError {
  return err instanceof ExaiError && (code === undefined || err.code === code);
}

/** Node system errors (`ENOENT`, `EADDRINUSE`, …) expose `code`; this narrows without `any`. */
export function errnoCode(err: unknown): string | undefined {
  if (err && typeof err === 'object' && 'code' in err && typeof err.code === 'string') return err.code;
  return undefined;
}

/** A message with its line breaks folded: every finding and error is one line. */
export function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ');
}

/**
 * What a process prints on stderr for the error that ends it: `exai: CODE: message` (one line),
 * or `exai: unexpected error: …` and, with EXAI_DEBUG set, its stack after it.
 */
export function failureLines(err: unknown, debug = Boolean(process.env.EXAI_DEBUG)): string[] {
  if (err instanceof ExaiError) return [`exai: ${err.code}: ${oneLine(err.message)}`];
  const lines = [`exai: unexpected error: ${oneLine(errorMessage(err))}`];
  if (debug && err instanceof Error && err.stack) lines.push(err.stack);
  return lines;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * The advice for a failed write under EXAI_HOME: a full disk needs space freed, not
 * permissions changed (ENOSPC/EDQUOT otherwise read like a permission problem).
 */
export function homeWriteAdvice(err: unknown): string {
  const code = errnoCode(err);
  return code === 'ENOSPC' || code === 'EDQUOT'
    ? 'the disk holding EXAI_HOME is full: free some space and run the command again'
    : 'make EXAI_HOME writable or point EXAI_HOME elsewhere';
}
