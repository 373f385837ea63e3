import { accessSync, constants, existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, realpathSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, sep } from 'node:path';
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
 * A config whose permission bits allow no one to write it (0444; on Windows the read-only
 * attribute reads as that too). The bits are checked, not a write tried: root may write any
 * file, and exai's atomic rename would replace a read-only file for anyone who owns its folder.
 */
export function isReadOnly(existing: ConfigText): boolean {
  return (existing.mode & 0o222) === 0;
}

export function readOnlyError(file: string, existing: ConfigText): ExaiError {
  return new ExaiError(
    'CONFIG_READ_ONLY',
    `${file} is read-only (mode ${(existing.mode & 0o777).toString(8).padStart(4, '0')}); exai left it untouched — make it writable and run the command again, or spawn with --no-config`,
  );
}

/**
 * Throws CONFIG_WRITE_FAILED when `file` could not be written: its folder (or the nearest
 * existing one above it, where it would be created) is not writable for this user. The write is
 * atomic (a temporary file beside it, then a rename), so the folder is what counts, also for a
 * file that exists. Spawn and remove ask before they change anything; `next`: what to do.
 */
export function checkFolderWritable(file: string, next: string): void {
  let folder = dirname(file);
  while (!existsSync(folder) && dirname(folder) !== folder) folder = dirname(folder);
  try {
    accessSync(folder, constants.W_OK);
  } catch (err) {
    throw new ExaiError('CONFIG_WRITE_FAILED', `cannot write ${file}: ${folder} is not writable (${errnoCode(err) ?? errorMessage(err)}); ${next}`, { cause: err });
  }
}

/**
 * Writes a client config atomically, creating its folder; `existing` gives back its BOM and mode.
 * A config symlinked from elsewhere (dotfiles) is updated where it lives, not replaced by a copy.
 * Throws CONFIG_READ_ONLY (a read-only file is never rewritten) or CONFIG_WRITE_FAILED.
 */
export function writeConfigText(file: string, body: string, existing: ConfigText | undefined): void {
  if (existing !== undefined && isReadOnly(existing)) throw readOnlyError(file, existing);
  if (existing === undefined) refuseDanglingLink(file);
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
 * A config path that is a symlink to nothing (dotfiles not checked out, a drive not mounted) is
 * the user's link: writing a new file there would replace the link, and a later `remove` would
 * delete that file, so the link would be gone for good. Refused, naming where it points.
 */
function refuseDanglingLink(file: string): void {
  let link: string;
  try {
    if (!lstatSync(file).isSymbolicLink()) return;
    link = readlinkSync(file);
  } catch {
    return; // absent (or unreadable, which the write reports)
  }
  throw new ExaiError(
    'CONFIG_WRITE_FAILED',
    `${file} is a symlink to ${link}, which does not exist; exai left the link untouched — create its target (or delete the link), then run the command again, or spawn with --no-config`,
  );
}

/** What a remove may delete besides exai's entry (src/supervisor/created.ts decides). */
export interface DeletePolicy {
  /** The workspace: nothing at or above it is ever deleted. */
  root: string;
  /** The file may go when taking exai's entry out leaves nothing but an empty object. */
  file: boolean;
  /** Its folder may go too when that leaves it empty. */
  folder: boolean;
}

/**
 * What taking exai's entry out leaves: written back, or — when nothing is left but an empty
 * object (JSONC `{}`) or an empty TOML file, and `policy` says exai created the file — the
 * file deleted, with its folder when the policy allows, that folder is inside the workspace
 * and it is empty. Never the workspace itself. Throws CONFIG_READ_ONLY or CONFIG_WRITE_FAILED.
 */
export function writeOrDeleteConfig(file: string, body: string, existing: ConfigText, policy: DeletePolicy): void {
  if (!policy.file || !/^\s*(\{\s*\})?\s*$/.test(body)) return writeConfigText(file, body, existing);
  if (isReadOnly(existing)) throw readOnlyError(file, existing);
  try {
    rmSync(file, { force: true });
  } catch (err) {
    throw new ExaiError('CONFIG_WRITE_FAILED', `cannot delete ${file} (${errnoCode(err) ?? errorMessage(err)}); delete it yourself`, { cause: err });
  }
  if (policy.folder) removeEmptyFolder(policy.root, dirname(file));
}

/** `path` lies below `root` (never `root` itself, never outside it). */
export function isStrictlyInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
}

/** Removes `dir` when it is an empty real folder strictly inside `root`; true when it went. */
export function removeEmptyFolder(root: string, dir: string): boolean {
  if (!isStrictlyInside(root, dir)) return false;
  try {
    if (!lstatSync(dir).isDirectory()) return false; // a symlink to a folder is the user's
    rmdirSync(dir); // only when empty: anything else of the user's keeps it
    return true;
  } catch {
    return false; // not empty, gone already, or not ours to judge
  }
}

/**
 * The paths (absolute) a write of `file` would create below `root`: the file when absent, and
 * each absent folder on the way down, outermost first. Never `root` or anything above it.
 */
export function missingPaths(root: string, file: string): string[] {
  const out: string[] = [];
  for (let p = file; isStrictlyInside(root, p) && !existsSync(p); p = dirname(p)) out.unshift(p);
  return out;
}

/** A path below the workspace as the registry records it: relative, '/'-separated. */
export function recordedPath(root: string, path: string): string {
  return relative(root, path).split(sep).join('/');
}

export function fromRecorded(root: string, rel: string): string {
  return join(root, ...rel.split('/'));
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
