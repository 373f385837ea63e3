import { mkdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import {
  createScanner,
  getNodeValue,
  parseTree,
  printParseErrorCode,
  SyntaxKind,
  type Node,
  type ParseError,
} from 'jsonc-parser';
import { writeFileAtomic } from '../common/atomic-write.js';
import { ExaiError, errnoCode, errorMessage } from '../common/errors.js';
import { CLI_ENTRY } from '../common/install.js';
import { stateDirsEnv, type StateDirs } from '../workspace/layout.js';
import type { ClientKind } from './registry.js';

/** The name of exai's entry in every client config. */
export const ENTRY_NAME = 'exai';

export interface ClientEntry {
  type: 'stdio';
  command: string;
  args: string[];
  /** EXAI_HOME and PM2_HOME are present only when not the defaults; `undefined` = take it out. */
  env: { EXAI_WS_PORT: string; EXAI_WORKSPACE: string; EXAI_HOME: string | undefined; PM2_HOME: string | undefined };
}

export function clientConfigPath(kind: ClientKind, workspace: string): string {
  switch (kind) {
    case 'vscode':
      return join(workspace, '.vscode', 'mcp.json');
    case 'claude':
      return join(workspace, '.mcp.json');
    case 'cursor':
      return join(workspace, '.cursor', 'mcp.json');
  }
}

/** VS Code keys its servers `servers`; Claude Code and Cursor use `mcpServers`. */
export function serversKey(kind: ClientKind): 'servers' | 'mcpServers' {
  return kind === 'vscode' ? 'servers' : 'mcpServers';
}

/**
 * exai's entry. Absolute node and CLI paths, so editors whose PATH lacks node still start
 * the shim. VS Code expands ${workspaceFolder}; Claude Code and Cursor do not do so
 * reliably, so they get the absolute workspace path. Non-default state dirs are written
 * too: many clients hand the shim only what the entry lists (DESIGN.md "Environment").
 */
export function clientEntry(kind: ClientKind, port: number, workspace: string, dirs: StateDirs): ClientEntry {
  return {
    type: 'stdio',
    command: process.execPath,
    args: [CLI_ENTRY, 'shim'],
    env: {
      EXAI_WS_PORT: String(port),
      EXAI_WORKSPACE: kind === 'vscode' ? '${workspaceFolder}' : workspace,
      ...stateDirsEnv(dirs),
    },
  };
}

/**
 * Puts exai's entry into the client's config, creating the folder and file when absent.
 * Everything outside the entry is kept byte for byte: only exai's members are inserted or
 * replaced, by hand-placed text edits. An unparsable file is left untouched (CONFIG_UNPARSABLE).
 */
export async function writeClientConfig(kind: ClientKind, workspace: string, port: number, dirs: StateDirs): Promise<{ file: string; changed: boolean }> {
  const file = clientConfigPath(kind, workspace);
  const entry = clientEntry(kind, port, workspace, dirs);
  const existing = readConfigText(file);
  if (existing === undefined || existing.text.trim() === '') {
    const text = serializeNew({ [serversKey(kind)]: { [ENTRY_NAME]: JSON.parse(JSON.stringify(entry)) as unknown } });
    writeConfig(file, text, existing?.mode);
    return { file, changed: true };
  }
  const { bom, body } = splitBom(existing.text);
  const style = detectStyle(body);
  const path = [serversKey(kind), ENTRY_NAME];
  let next = body;
  // Each step fixes one difference and re-parses, so offsets are always fresh.
  for (let step = 0; step < 64; step++) {
    const root = parseOrThrow(next, file);
    const edited = ensureValue(next, root, path, entry, style, file);
    if (edited === undefined) break;
    next = edited;
  }
  const check = getNodeValue(parseOrThrow(next, file)) as Record<string, Record<string, unknown> | undefined>;
  if (!entryMatches(check[serversKey(kind)]?.[ENTRY_NAME], entry)) {
    throw new ExaiError('CONFIG_WRITE_FAILED', `could not place exai's entry in ${file} (its layout defeated the editor); ${file} is unchanged — move exai's entry by hand or delete the file`);
  }
  if (next === body) return { file, changed: false };
  writeConfig(file, bom + next, existing.mode);
  return { file, changed: true };
}

/**
 * Throws what writeClientConfig would for an unparsable file, without writing: spawn checks
 * every config it will touch before it starts anything, so a bad file costs nothing.
 */
export function checkClientConfig(kind: ClientKind, workspace: string): void {
  const file = clientConfigPath(kind, workspace);
  const existing = readConfigText(file);
  if (existing === undefined || existing.text.trim() === '') return;
  const root = parseOrThrow(splitBom(existing.text).body, file);
  // Parsable but the wrong shape (`"servers": []`) would fail only once the daemon runs.
  const key = serversKey(kind);
  const servers = memberValue(root, key);
  if (servers !== undefined && servers.type !== 'object') {
    throw new ExaiError('CONFIG_UNPARSABLE', `${file}: "${key}" is ${servers.type === 'array' ? 'an array' : `a ${servers.type}`}, not an object; exai left the file untouched — fix it or delete the file`);
  }
  const entry = servers && memberValue(servers, ENTRY_NAME);
  if (entry !== undefined && entry.type !== 'object') {
    throw new ExaiError('CONFIG_UNPARSABLE', `${file}: "${key}.${ENTRY_NAME}" is not an object; exai left the file untouched — fix it or delete exai's entry`);
  }
}

/** Takes exai's entry (only that) out of the client's config; a missing file or entry changes nothing. */
export async function removeClientEntry(kind: ClientKind, workspace: string): Promise<{ file: string; changed: boolean }> {
  const file = clientConfigPath(kind, workspace);
  const existing = readConfigText(file);
  if (existing === undefined || existing.text.trim() === '') return { file, changed: false };
  const { bom, body } = splitBom(existing.text);
  const root = parseOrThrow(body, file);
  const servers = memberValue(root, serversKey(kind));
  if (servers?.type !== 'object') return { file, changed: false };
  const property = findProperty(servers, ENTRY_NAME);
  if (property === undefined) return { file, changed: false };
  const next = removeProperty(body, servers, property);
  writeConfig(file, bom + next, existing.mode);
  return { file, changed: true };
}

/** For doctor: the EXAI_WS_PORT in exai's entry; undefined when the file, the entry or the port is missing. */
export function readClientEntryPort(kind: ClientKind, workspace: string): number | undefined | 'unparsable' {
  const file = clientConfigPath(kind, workspace);
  let existing: { text: string } | undefined;
  try {
    existing = readConfigText(file);
  } catch {
    return 'unparsable';
  }
  if (existing === undefined) return undefined;
  const errors: ParseError[] = [];
  const root = parseTree(splitBom(existing.text).body, errors, PARSE_OPTIONS);
  if (errors.length > 0 || root === undefined) return 'unparsable';
  const value: unknown = getNodeValue(root);
  const entry = lookup(value, [serversKey(kind), ENTRY_NAME, 'env', 'EXAI_WS_PORT']);
  const port = typeof entry === 'string' && /^\d+$/.test(entry) ? Number(entry) : typeof entry === 'number' ? entry : undefined;
  return port !== undefined && Number.isInteger(port) && port >= 1 && port <= 65_535 ? port : undefined;
}

// ---------------------------------------------------------------------------------------
// File I/O

function readConfigText(file: string): { text: string; mode: number } | undefined {
  try {
    const text = readFileSync(file, 'utf8');
    return { text, mode: statSync(file).mode & 0o7777 };
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw new ExaiError('CONFIG_WRITE_FAILED', `cannot read ${file} (${errnoCode(err) ?? errorMessage(err)}); check its permissions`, { cause: err });
  }
}

function writeConfig(file: string, text: string, mode: number | undefined): void {
  try {
    mkdirSync(dirname(file), { recursive: true });
    // A config symlinked from elsewhere (dotfiles) is updated where it lives, not replaced by a copy.
    let target = file;
    try {
      target = realpathSync(file);
    } catch {
      // absent: written where asked
    }
    writeFileAtomic(target, text, mode === undefined ? {} : { mode });
  } catch (err) {
    throw new ExaiError('CONFIG_WRITE_FAILED', `cannot write ${file} (${errnoCode(err) ?? errorMessage(err)}); make it writable, or run with --no-config`, { cause: err });
  }
}

function splitBom(text: string): { bom: string; body: string } {
  return text.startsWith('\uFEFF') ? { bom: '\uFEFF', body: text.slice(1) } : { bom: '', body: text };
}

// ---------------------------------------------------------------------------------------
// Parsing

const PARSE_OPTIONS = { allowTrailingComma: true, disallowComments: false, allowEmptyContent: false };

function parseOrThrow(text: string, file: string): Node {
  const errors: ParseError[] = [];
  const root = parseTree(text, errors, PARSE_OPTIONS);
  const first = errors[0];
  if (first !== undefined || root === undefined) {
    const { line, column } = lineColumn(text, first?.offset ?? 0);
    const what = first ? printParseErrorCode(first.error) : 'no JSON value';
    throw new ExaiError('CONFIG_UNPARSABLE', `${file}:${line}:${column}: cannot parse (${what}); exai left it untouched — fix it there or delete the file, then run the command again`);
  }
  if (root.type !== 'object') {
    throw new ExaiError('CONFIG_UNPARSABLE', `${file}: the top level is ${root.type === 'array' ? 'an array' : `a ${root.type}`}, not an object; exai left it untouched — fix it or delete the file`);
  }
  return root;
}

function lineColumn(text: string, offset: number): { line: number; column: number } {
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

function findProperty(object: Node, key: string): Node | undefined {
  return object.children?.find((p) => p.type === 'property' && p.children?.[0]?.value === key);
}

function memberValue(object: Node, key: string): Node | undefined {
  return findProperty(object, key)?.children?.[1];
}

function lookup(value: unknown, path: string[]): unknown {
  let current = value;
  for (const key of path) {
    if (!isPlainObject(current)) return undefined;
    current = current[key];
  }
  return current;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The entry exai wants is there; members the user added to it are tolerated, those exai takes out are gone. */
function entryMatches(actual: unknown, wanted: unknown): boolean {
  if (wanted === undefined) return actual === undefined;
  if (isPlainObject(wanted)) {
    return isPlainObject(actual) && Object.entries(wanted).every(([k, v]) => entryMatches(actual[k], v));
  }
  return isDeepStrictEqual(actual, wanted);
}

// ---------------------------------------------------------------------------------------
// Editing. Every edit is a splice whose inverse removeProperty() knows, so inserting and then
// removing exai's entry gives back the original bytes.

interface Style {
  /** One indentation step, as the file does it. */
  unit: string;
  eol: string;
}

function detectStyle(text: string): Style {
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  let unit: string | undefined;
  let smallest = Infinity;
  for (const line of text.split(/\r?\n/)) {
    const indent = /^[ \t]+(?=\S)/.exec(line)?.[0];
    if (indent === undefined) continue;
    if (indent.startsWith('\t')) {
      unit ??= '\t';
      continue;
    }
    if (unit === undefined && indent.length < smallest) smallest = indent.length;
  }
  if (unit === undefined) unit = Number.isFinite(smallest) ? ' '.repeat(Math.min(smallest, 8)) : '  ';
  return { unit, eol };
}

function serializeNew(value: unknown): string {
  return JSON.stringify(value, null, 2) + '\n';
}

/** Pretty JSON whose continuation lines start at `indent`. */
function render(value: unknown, indent: string, style: Style): string {
  return JSON.stringify(value, null, style.unit).split('\n').join(style.eol + indent);
}

/** One-line JSON with the spacing people type: { "a": 1, "b": [ "x" ] }. */
function renderCompact(value: unknown): string {
  return JSON.stringify(value, null, 1).replace(/\n\s*/g, ' ');
}

function lineStartOf(text: string, offset: number): number {
  let i = offset;
  while (i > 0 && text[i - 1] !== '\n' && text[i - 1] !== '\r') i--;
  return i;
}

function lineIndentAt(text: string, offset: number): string {
  const start = lineStartOf(text, offset);
  return /^[ \t]*/.exec(text.slice(start, offset))?.[0] ?? '';
}

/**
 * The offset of the first line break after `from` that is not inside a comment, if only
 * whitespace and comments come before it; undefined when a token follows on the same line.
 */
function lineBreakAfter(text: string, from: number): number | undefined {
  const scanner = createScanner(text, false);
  scanner.setPosition(from);
  for (;;) {
    const kind = scanner.scan();
    if (kind === SyntaxKind.LineBreakTrivia) return scanner.getTokenOffset();
    if (kind === SyntaxKind.Trivia || kind === SyntaxKind.LineCommentTrivia || kind === SyntaxKind.BlockCommentTrivia) continue;
    return undefined;
  }
}

/** The next non-trivia token after `from`: its kind and offset. */
function nextToken(text: string, from: number): { kind: SyntaxKind; offset: number; end: number } {
  const scanner = createScanner(text, true);
  scanner.setPosition(from);
  const kind = scanner.scan();
  return { kind, offset: scanner.getTokenOffset(), end: scanner.getTokenOffset() + scanner.getTokenLength() };
}

/**
 * Makes the value at `path` (below `node`) match `wanted`, one splice at a time: returns the
 * text after the first needed splice, or undefined when nothing differs. Objects are matched
 * member by member so that a port change touches only the port.
 */
function ensureValue(text: string, node: Node, path: string[], wanted: unknown, style: Style, file: string): string | undefined {
  if (path.length > 0) {
    const [key, ...rest] = path as [string, ...string[]];
    if (node.type !== 'object') return undefined;
    const child = memberValue(node, key);
    if (child === undefined) return insertMember(text, node, key, wrap(rest, wanted), style);
    if (rest.length > 0 && child.type !== 'object') {
      throw new ExaiError('CONFIG_UNPARSABLE', `${file}: "${key}" is ${child.type === 'array' ? 'an array' : `a ${child.type}`}, not an object; exai left the file untouched — fix it or delete the file`);
    }
    return ensureValue(text, child, rest, wanted, style, file);
  }
  if (isPlainObject(wanted) && node.type === 'object') {
    for (const [key, value] of Object.entries(wanted)) {
      if (value === undefined) {
        // A member exai owns but no longer wants (EXAI_HOME back at its default).
        const property = findProperty(node, key);
        if (property !== undefined) return removeProperty(text, node, property);
        continue;
      }
      const child = memberValue(node, key);
      if (child === undefined) return insertMember(text, node, key, value, style);
      const edited = ensureValue(text, child, [], value, style, file);
      if (edited !== undefined) return edited;
    }
    return undefined;
  }
  if (isDeepStrictEqual(getNodeValue(node), wanted)) return undefined;
  return replaceNode(text, node, wanted, style);
}

function wrap(path: string[], value: unknown): unknown {
  return path.reduceRight<unknown>((inner, key) => ({ [key]: inner }), value);
}

function replaceNode(text: string, node: Node, value: unknown, style: Style): string {
  const original = text.slice(node.offset, node.offset + node.length);
  const multiline = /[\r\n]/.test(original) && typeof value === 'object' && value !== null;
  const rendered = multiline ? render(value, lineIndentAt(text, node.offset), style) : typeof value === 'object' && value !== null ? renderCompact(value) : JSON.stringify(value);
  return text.slice(0, node.offset) + rendered + text.slice(node.offset + node.length);
}

/** Inserts `"key": value` as the object's first member, on its own line unless the object is one line. */
function insertMember(text: string, object: Node, key: string, value: unknown, style: Style): string {
  const open = object.offset;
  const close = object.offset + object.length - 1;
  const first = object.children?.[0];
  const breakAt = lineBreakAfter(text, open + 1);
  if (first !== undefined) {
    if (breakAt === undefined || breakAt > first.offset) {
      // One-line object: `{ "a": 1 }` -> `{ "exai": {…}, "a": 1 }`.
      return text.slice(0, first.offset) + `${JSON.stringify(key)}: ${renderCompact(value)}, ` + text.slice(first.offset);
    }
    const indent = lineIndentAt(text, first.offset);
    const member = `${style.eol}${indent}${JSON.stringify(key)}: ${render(value, indent, style)},`;
    return text.slice(0, breakAt) + member + text.slice(breakAt);
  }
  const outer = lineIndentAt(text, open);
  const indent = outer + style.unit;
  const member = `${JSON.stringify(key)}: ${render(value, indent, style)}`;
  const inner = text.slice(open + 1, close);
  if (inner.trim() === '') {
    return text.slice(0, open + 1) + style.eol + indent + member + style.eol + outer + text.slice(close);
  }
  // Only comments inside: keep them, the member goes after the opening line.
  if (breakAt !== undefined && breakAt < close) return text.slice(0, breakAt) + style.eol + indent + member + text.slice(breakAt);
  return text.slice(0, open + 1) + ' ' + member + ' ' + text.slice(open + 1);
}

/** Removes one member: the inverse of insertMember when it was put there by it. */
function removeProperty(text: string, object: Node, property: Node): string {
  const start = property.offset;
  const end = property.offset + property.length;
  const after = nextToken(text, end);
  const lineStart = lineStartOf(text, start);
  const ownLine = text.slice(lineStart, start).trim() === '';
  // Back over the line break before the member too, when the member starts its own line.
  const cutFrom = ownLine ? lineStart - (text.slice(0, lineStart).endsWith('\r\n') ? 2 : text.slice(0, lineStart).endsWith('\n') ? 1 : 0) : start;
  if (after.kind === SyntaxKind.CommaToken) {
    if (ownLine) return text.slice(0, cutFrom) + text.slice(after.end);
    // One-line object: take the member, its comma and the space insertMember put after it.
    const tail = text.slice(after.end, after.end + 1) === ' ' ? after.end + 1 : after.end;
    return text.slice(0, start) + text.slice(tail);
  }
  const siblings = object.children ?? [];
  const index = siblings.indexOf(property);
  if (index > 0) {
    // The last member: the comma before it goes, whatever comment follows that comma stays.
    const previous = siblings[index - 1]!;
    const comma = nextToken(text, previous.offset + previous.length);
    const withoutMember = text.slice(0, ownLine ? cutFrom : start) + text.slice(end);
    if (comma.kind !== SyntaxKind.CommaToken) return withoutMember;
    return withoutMember.slice(0, comma.offset) + withoutMember.slice(comma.end);
  }
  // The only member: `{ "exai": … }` becomes `{}` when nothing else is inside.
  const open = object.offset;
  const close = object.offset + object.length - 1;
  const rest = text.slice(open + 1, start) + text.slice(end, close);
  if (rest.trim() === '') return text.slice(0, open + 1) + text.slice(close);
  return text.slice(0, ownLine ? cutFrom : start) + text.slice(end);
}
