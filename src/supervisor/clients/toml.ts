import { createRequire } from 'node:module';
import { isDeepStrictEqual } from 'node:util';
import type * as TomlPatch from '@decimalturn/toml-patch';
import { ExaiError } from '../../common/errors.js';
import { isPlainObject, lookup, matchesWanted } from './io.js';

/**
 * Edits TOML (Codex's config.toml) with toml-patch, which re-renders only the nodes whose
 * value changed and keeps comments, whitespace and every other table as they were. Each edit
 * is checked by parsing the result: exai's table holds what was asked and everything outside
 * it parses to the same values as before; otherwise the file is left alone. All functions take
 * the text without a BOM and throw CONFIG_UNPARSABLE, naming `file`, for text they will not edit.
 */

type Table = Record<string, unknown>;

// Loaded on first use (~30 ms): most workspaces have no Codex config, and spawn's reuse path
// is measured in tens of milliseconds. require() of this ES module works on Node >= 20.19.
let library: typeof TomlPatch | undefined;
function toml(): typeof TomlPatch {
  return (library ??= createRequire(import.meta.url)('@decimalturn/toml-patch') as typeof TomlPatch);
}
const parse = (text: string): unknown => toml().parse(text) as unknown;
const patch = (existing: string, updated: unknown): string => toml().patch(existing, updated);

/** The parsed value of a TOML text; 'unparsable' when toml-patch rejects it. */
export function tomlValue(text: string): unknown {
  try {
    return parse(text) as unknown;
  } catch {
    return 'unparsable';
  }
}

/** Throws what an edit would for text exai will not edit, or whose keys on `path` (when present) are not tables. */
export function checkToml(text: string, file: string, path: readonly string[] = []): void {
  const root = parseTable(text, file);
  for (let i = 1; i <= path.length; i++) {
    const value = lookup(root, path.slice(0, i));
    if (value !== undefined && !isPlainObject(value)) {
      throw new ExaiError('CONFIG_UNPARSABLE', `${file}: ${path.slice(0, i).join('.')} is not a table; exai left the file untouched — fix it or delete the file`);
    }
  }
}

/**
 * Makes the table at `path` match `wanted` (members whose value is undefined are taken out,
 * members the user added are kept). A table that is not there yet is added at the end as its
 * own `[a.b]` section, with a section per nested table (`[a.b.env]`), as people write them.
 * Returns the new text (the same string when nothing differed).
 */
export function setTomlTable(text: string, path: readonly string[], wanted: Table, file: string): string {
  const before = parseTable(text, file);
  const current = lookup(before, path);
  if (current !== undefined && !isPlainObject(current)) {
    throw new ExaiError('CONFIG_UNPARSABLE', `${file}: ${path.join('.')} is not a table; exai left the file untouched — fix it or delete the file`);
  }
  let base = text;
  if (current === undefined) {
    // toml-patch would add a table below an implicit parent as a dotted key at the top
    // (`a.b = { … }`); empty section headers put it where a person would, and the patch fills
    // them. Where headers are not allowed (the parent is an inline table), its own placement stands.
    const eol = text.includes('\r\n') ? '\r\n' : '\n';
    const sections = sectionHeaders(path, wanted).join(eol + eol) + eol;
    const withSections = text + (text === '' || text.endsWith('\n') ? '' : eol) + (text.trim() === '' ? '' : eol) + sections;
    if (tomlValue(withSections) !== 'unparsable') base = withSections;
  }
  const next = parse(base) as Table;
  merge(ensureTable(next, path), wanted);
  const result = patch(base, next);
  const after = parseTable(result, file);
  if (!matchesWanted(lookup(after, path), wanted) || !isDeepStrictEqual(without(after, path), without(before, path))) {
    throw new ExaiError('CONFIG_WRITE_FAILED', `could not place exai's table in ${file} (its layout defeated the editor); ${file} is unchanged — move exai's table by hand or delete the file`);
  }
  return result;
}

/** Takes the table at `path` out; the same text when it is not there. */
export function deleteToml(text: string, path: readonly string[], file: string): string {
  const before = parseTable(text, file);
  if (lookup(before, path) === undefined) return text;
  const keepParent = parse(text) as Table;
  deleteAt(keepParent, path, false);
  const kept = patch(text, keepParent);
  // A parent that only held exai's table (`[mcp_servers.exai]` alone) comes back from the patch
  // as an empty `[mcp_servers]` header: drop the parent then, unless the user wrote one.
  let result = kept;
  if (!onlyRemovesLines(text, kept)) {
    const dropParent = parse(text) as Table;
    deleteAt(dropParent, path, true);
    result = patch(text, dropParent);
  }
  if (result.trim() === '') result = '';
  const after = parseTable(result, file);
  if (lookup(after, path) !== undefined || !isDeepStrictEqual(without(after, path), without(before, path))) {
    throw new ExaiError('CONFIG_WRITE_FAILED', `could not take exai's table out of ${file} (its layout defeated the editor); ${file} is unchanged — remove it by hand`);
  }
  return result;
}

function parseTable(text: string, file: string): Table {
  // toml-patch normalises every line ending of a file that mixes them (and says so on the
  // console): that would rewrite lines outside exai's table.
  if (text.includes('\r\n') && /(^|[^\r])\n/.test(text)) {
    throw new ExaiError('CONFIG_UNPARSABLE', `${file} mixes CRLF and LF line ends; exai left it untouched — give it one kind of line end, then run the command again`);
  }
  try {
    return parse(text) as Table;
  } catch (err) {
    // toml-patch's ParseError: 1-based line, 0-based column, the reason on the last line.
    const { line, column, message } = err as { line?: number; column?: number; message?: string };
    const where = typeof line === 'number' && typeof column === 'number' ? `:${line}:${column + 1}` : '';
    const why = message?.split('\n').at(-1) ?? String(err);
    throw new ExaiError('CONFIG_UNPARSABLE', `${file}${where}: cannot parse (${why}); exai left it untouched — fix it there or delete the file, then run the command again`, { cause: err });
  }
}

/** `[a.b]` for the table at `path`, then one per nested table of `wanted`. */
function sectionHeaders(path: readonly string[], wanted: Table): string[] {
  const key = (k: string) => (/^[A-Za-z0-9_-]+$/.test(k) ? k : JSON.stringify(k));
  const headers = [`[${path.map(key).join('.')}]`];
  for (const [k, v] of Object.entries(wanted)) if (isPlainObject(v)) headers.push(...sectionHeaders([...path, k], v));
  return headers;
}

function ensureTable(root: Table, path: readonly string[]): Table {
  let table = root;
  for (const key of path) {
    const child = table[key];
    if (!isPlainObject(child)) table[key] = {};
    table = table[key] as Table;
  }
  return table;
}

function merge(target: Table, wanted: Table): void {
  for (const [key, value] of Object.entries(wanted)) {
    if (value === undefined) delete target[key];
    else if (isPlainObject(value)) merge(ensureTable(target, [key]), value);
    else target[key] = value;
  }
}

/** Deletes the member at `path`; with `prune`, parents left empty go too. */
function deleteAt(root: Table, path: readonly string[], prune: boolean): void {
  const parents: Table[] = [root];
  for (const key of path.slice(0, -1)) {
    const child = parents[parents.length - 1]![key];
    if (!isPlainObject(child)) return;
    parents.push(child);
  }
  delete parents[parents.length - 1]![path[path.length - 1]!];
  if (!prune) return;
  for (let i = parents.length - 1; i > 0 && Object.keys(parents[i]!).length === 0; i--) delete parents[i - 1]![path[i - 1]!];
}

/** The value without the member at `path` and the parents it leaves empty: what must not change. */
function without(value: Table, path: readonly string[]): Table {
  const copy = structuredClone(value);
  deleteAt(copy, path, true);
  return copy;
}

/** `after` is `before` with some lines taken out and none added or changed. */
function onlyRemovesLines(before: string, after: string): boolean {
  const kept = before.split(/\r?\n/);
  let i = 0;
  for (const line of after.split(/\r?\n/)) {
    while (i < kept.length && kept[i] !== line) i++;
    if (i === kept.length) return false;
    i++;
  }
  return true;
}
