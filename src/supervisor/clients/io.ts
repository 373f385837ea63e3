import { mkdirSync, readFileSync, realpathSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { writeFileAtomic } from '../../common/atomic-write.js';
import { ExaiError, errnoCode, errorMessage } from '../../common/errors.js';

/** A client config as read: its text without a byte-order mark, the mark, and the file's mode. */
export interface ConfigText {
  /** The text after the BOM (editors keep it, parsers choke on it). */
  body: string;
  bom: string;
  /** Permission bits, kept on rewrite. */
  mode: number;
}

/** Reads a client config; undefined when the file does not exist. Throws CONFIG_WRITE_FAILED when it cannot be read. */
export function readConfigText(file: string): ConfigText | undefined {
  let text: string;
  let mode: number;
  try {
    text = readFileSync(file, 'utf8');
    mode = statSync(file).mode & 0o7777;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw new ExaiError('CONFIG_WRITE_FAILED', `cannot read ${file} (${errnoCode(err) ?? errorMessage(err)}); check its permissions`, { cause: err });
  }
  return text.startsWith('\uFEFF') ? { bom: '\uFEFF', body: text.slice(1), mode } : { bom: '', body: text, mode };
}

/**
 * Writes a client config atomically, creating its folder; `existing` gives back its BOM and mode.
 * A config symlinked from elsewhere (dotfiles) is updated where it lives, not replaced by a copy.
 * Throws CONFIG_WRITE_FAILED.
 */
export function writeConfigText(file: string, body: string, existing: ConfigText | undefined): void {
  try {
    mkdirSync(dirname(file), { recursive: true });
    let target = file;
    try {
      target = realpathSync(file);
    } catch {
      // absent: written where asked
    }
    writeFileAtomic(target, (existing?.bom ?? '') + body, existing === undefined ? {} : { mode: existing.mode });
  } catch (err) {
    throw new ExaiError('CONFIG_WRITE_FAILED', `cannot write ${file} (${errnoCode(err) ?? errorMessage(err)}); make it writable, or run with --no-config`, { cause: err });
  }
}

/**
 * What taking exai's entry out leaves: written back, or — when nothing is left but an empty
 * object (JSONC `{}`) or an empty TOML file, which is what exai wrote into a file it created —
 * the file deleted, with its folder when that is empty too, so `remove` leaves the workspace as
 * exai found it. Throws CONFIG_WRITE_FAILED.
 */
export function writeOrDeleteConfig(file: string, body: string, existing: ConfigText): void {
  if (!/^\s*(\{\s*\})?\s*$/.test(body)) return writeConfigText(file, body, existing);
  try {
    rmSync(file, { force: true });
  } catch (err) {
    throw new ExaiError('CONFIG_WRITE_FAILED', `cannot delete ${file} (${errnoCode(err) ?? errorMessage(err)}); delete it yourself`, { cause: err });
  }
  try {
    rmdirSync(dirname(file)); // only when empty: anything else of the user's keeps it
  } catch {
    // not empty, or not ours to judge
  }
}

/** 1-based line and column of a 0-based offset, for parse errors users can jump to. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text[i] === '\n') {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

/** The value at `path` below `value`; undefined when any step is missing or not an object. */
export function lookup(value: unknown, path: readonly string[]): unknown {
  let current = value;
  for (const key of path) {
    if (!isPlainObject(current)) return undefined;
    current = current[key];
  }
  return current;
}

/**
 * The value exai wants is there: members the user added to an object are tolerated, members
 * whose wanted value is undefined must be absent, everything else is deep-equal.
 */
export function matchesWanted(actual: unknown, wanted: unknown): boolean {
  if (wanted === undefined) return actual === undefined;
  if (isPlainObject(wanted)) {
    return isPlainObject(actual) && Object.entries(wanted).every(([k, v]) => matchesWanted(actual[k], v));
  }
  return isDeepStrictEqual(actual, wanted);
}
