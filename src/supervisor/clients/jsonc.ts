import { isDeepStrictEqual } from 'node:util';
import { createScanner, getNodeValue, parseTree, printParseErrorCode, SyntaxKind, type Node, type ParseError } from 'jsonc-parser';
import { ExaiError } from '../../common/errors.js';
import { isPlainObject, lineColumn, matchesWanted } from './io.js';

/**
 * Edits JSONC (comments, trailing commas: VS Code's mcp.json, Claude Code's and Gemini CLI's
 * settings) by hand-placed splices located with jsonc-parser, so that every byte outside the
 * edited member stays as it was. Every splice has an inverse here (insert first member /
 * remove member), so inserting exai's entry and removing it gives back the original bytes.
 * All functions take the text without a BOM and throw CONFIG_UNPARSABLE, naming `file`,
 * for text they will not edit.
 */

const PARSE_OPTIONS = { allowTrailingComma: true, disallowComments: false, allowEmptyContent: false };

/** The parsed value of a JSONC text; 'unparsable' for anything jsonc-parser reports an error in. */
export function jsoncValue(text: string): unknown {
  const errors: ParseError[] = [];
  const root = parseTree(text, errors, PARSE_OPTIONS);
  return errors.length > 0 || root === undefined ? 'unparsable' : (getNodeValue(root) as unknown);
}

/** Throws what an edit would for text that is not a JSONC object, or whose members on `path` (when present) are not objects. */
export function checkJsonc(text: string, file: string, path: readonly string[] = []): void {
  if (text.trim() === '') return;
  let node: Node | undefined = parseObject(text, file);
  for (let i = 0; i < path.length && node !== undefined; i++) {
    node = memberValue(node, path[i]!);
    if (node !== undefined && node.type !== 'object') {
      throw new ExaiError('CONFIG_UNPARSABLE', `${file}: "${path.slice(0, i + 1).join('.')}" is ${article(node.type)}, not an object; exai left the file untouched — fix it or delete the file`);
    }
  }
}

/**
 * Makes the value at `path` match `wanted` (objects member by member, so a port change touches
 * only the port; members whose wanted value is undefined are taken out). Empty text gets a new
 * document. Returns the new text (the same string when nothing differed).
 */
export function setJsonc(text: string, path: readonly string[], wanted: unknown, file: string): string {
  if (text.trim() === '') return JSON.stringify(wrap(path, wanted), null, 2) + '\n';
  const style = detectStyle(text);
  let next = text;
  // Each step fixes one difference and re-parses, so offsets are always fresh.
  for (let step = 0; step < 64; step++) {
    const edited = ensureValue(next, parseObject(next, file), path, wanted, style, file);
    if (edited === undefined) break;
    next = edited;
  }
  if (!matchesWanted(lookupNode(parseObject(next, file), path), wanted)) {
    throw new ExaiError('CONFIG_WRITE_FAILED', `could not place exai's entry in ${file} (its layout defeated the editor); ${file} is unchanged — move exai's entry by hand or delete the file`);
  }
  return next;
}

/**
 * Takes the member at `path` out; the same text when it is not there. A parent object left
 * with nothing inside (no member, no comment) held only that member and goes too, so that
 * removing what setJsonc added to a file without `mcpServers` gives the original bytes back.
 */
export function deleteJsonc(text: string, path: readonly string[], file: string): string {
  if (text.trim() === '' || path.length === 0) return text;
  const parentPath = path.slice(0, -1);
  const parent = nodeAt(parseObject(text, file), parentPath);
  if (parent?.type !== 'object') return text;
  const property = findProperty(parent, path[path.length - 1]!);
  if (property === undefined) return text;
  const next = removeChild(text, parent, property);
  const emptied = parentPath.length > 0 ? nodeAt(parseObject(next, file), parentPath) : undefined;
  if (emptied !== undefined && next.slice(emptied.offset + 1, emptied.offset + emptied.length - 1).trim() === '') return deleteJsonc(next, parentPath, file);
  return next;
}

/** Adds `item` to the list at `path` (created when absent) unless it is there already. */
export function addToJsoncArray(text: string, path: readonly string[], item: unknown, file: string): string {
  if (text.trim() === '') return setJsonc(text, path, [item], file);
  const list = nodeAt(parseObject(text, file), path);
  if (list === undefined) return setJsonc(text, path, [item], file);
  if (list.type !== 'array') {
    throw new ExaiError('CONFIG_UNPARSABLE', `${file}: "${path.join('.')}" is ${article(list.type)}, not a list; exai left the file untouched — fix it or delete the file`);
  }
  if ((list.children ?? []).some((c) => isDeepStrictEqual(getNodeValue(c), item))) return text;
  return insertFirst(text, list, JSON.stringify(item), () => JSON.stringify(item), detectStyle(text));
}

/** Takes every `item` out of the list at `path`; a list left empty goes too (it held only exai's). */
export function removeFromJsoncArray(text: string, path: readonly string[], item: unknown, file: string): string {
  if (text.trim() === '') return text;
  let next = text;
  for (;;) {
    const list = nodeAt(parseObject(next, file), path);
    if (list?.type !== 'array') return next;
    const found = list.children?.find((c) => isDeepStrictEqual(getNodeValue(c), item));
    if (found === undefined) return next === text || list.children?.length ? next : deleteJsonc(next, path, file);
    next = removeChild(next, list, found);
  }
}

// ---------------------------------------------------------------------------------------
// Parsing

function parseObject(text: string, file: string): Node {
  const errors: ParseError[] = [];
  const root = parseTree(text, errors, PARSE_OPTIONS);
  const first = errors[0];
  if (first !== undefined || root === undefined) {
    const { line, column } = lineColumn(text, first?.offset ?? 0);
    const what = first ? printParseErrorCode(first.error) : 'no JSON value';
    throw new ExaiError('CONFIG_UNPARSABLE', `${file}:${line}:${column}: cannot parse (${what}); exai left it untouched — fix it there or delete the file, then run the command again`);
  }
  if (root.type !== 'object') {
    throw new ExaiError('CONFIG_UNPARSABLE', `${file}: the top level is ${article(root.type)}, not an object; exai left it untouched — fix it or delete the file`);
  }
  return root;
}

function article(type: string): string {
  if (type === 'null') return 'null';
  return type === 'array' || type === 'object' ? `an ${type}` : `a ${type}`;
}

function findProperty(object: Node, key: string): Node | undefined {
  return object.children?.find((p) => p.type === 'property' && p.children?.[0]?.value === key);
}

function memberValue(object: Node, key: string): Node | undefined {
  return findProperty(object, key)?.children?.[1];
}

function nodeAt(root: Node, path: readonly string[]): Node | undefined {
  let node: Node | undefined = root;
  for (const key of path) {
    if (node?.type !== 'object') return undefined;
    node = memberValue(node, key);
  }
  return node;
}

function lookupNode(root: Node, path: readonly string[]): unknown {
  const node = nodeAt(root, path);
  return node === undefined ? undefined : (getNodeValue(node) as unknown);
}

function wrap(path: readonly string[], value: unknown): unknown {
  return path.reduceRight<unknown>((inner, key) => ({ [key]: inner }), value);
}

// ---------------------------------------------------------------------------------------
// Editing

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
 * text after the first needed splice, or undefined when nothing differs.
 */
function ensureValue(text: string, node: Node, path: readonly string[], wanted: unknown, style: Style, file: string): string | undefined {
  if (path.length > 0) {
    const [key, ...rest] = path as [string, ...string[]];
    if (node.type !== 'object') return undefined;
    const child = memberValue(node, key);
    if (child === undefined) return insertMember(text, node, key, wrap(rest, wanted), style);
    if (rest.length > 0 && child.type !== 'object') {
      throw new ExaiError('CONFIG_UNPARSABLE', `${file}: "${key}" is ${article(child.type)}, not an object; exai left the file untouched — fix it or delete the file`);
    }
    return ensureValue(text, child, rest, wanted, style, file);
  }
  if (isPlainObject(wanted) && node.type === 'object') {
    for (const [key, value] of Object.entries(wanted)) {
      if (value === undefined) {
        // A member exai owns but no longer wants (EXAI_HOME back at its default).
        const property = findProperty(node, key);
        if (property !== undefined) return removeChild(text, node, property);
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

function replaceNode(text: string, node: Node, value: unknown, style: Style): string {
  const original = text.slice(node.offset, node.offset + node.length);
  const multiline = /[\r\n]/.test(original) && typeof value === 'object' && value !== null;
  const rendered = multiline ? render(value, lineIndentAt(text, node.offset), style) : typeof value === 'object' && value !== null ? renderCompact(value) : JSON.stringify(value);
  return text.slice(0, node.offset) + rendered + text.slice(node.offset + node.length);
}

function insertMember(text: string, object: Node, key: string, value: unknown, style: Style): string {
  const name = JSON.stringify(key);
  return insertFirst(text, object, `${name}: ${renderCompact(value)}`, (indent) => `${name}: ${render(value, indent, style)}`, style);
}

/**
 * Inserts a member (object) or element (array) first in `container`, on its own line unless
 * the container is one line. `compact` is its one-line text, `pretty(indent)` its text for a
 * line indented by `indent`.
 */
function insertFirst(text: string, container: Node, compact: string, pretty: (indent: string) => string, style: Style): string {
  const open = container.offset;
  const close = container.offset + container.length - 1;
  const first = container.children?.[0];
  const breakAt = lineBreakAfter(text, open + 1);
  if (first !== undefined) {
    if (breakAt === undefined || breakAt > first.offset) {
      // One-line container: `{ "a": 1 }` -> `{ "exai": {…}, "a": 1 }`.
      return text.slice(0, first.offset) + `${compact}, ` + text.slice(first.offset);
    }
    const indent = lineIndentAt(text, first.offset);
    return text.slice(0, breakAt) + `${style.eol}${indent}${pretty(indent)},` + text.slice(breakAt);
  }
  const outer = lineIndentAt(text, open);
  const indent = outer + style.unit;
  const inner = text.slice(open + 1, close);
  if (inner.trim() === '') {
    return text.slice(0, open + 1) + style.eol + indent + pretty(indent) + style.eol + outer + text.slice(close);
  }
  // Only comments inside: keep them, the member goes after the opening line.
  if (breakAt !== undefined && breakAt < close) return text.slice(0, breakAt) + style.eol + indent + pretty(indent) + text.slice(breakAt);
  return text.slice(0, open + 1) + ' ' + compact + ' ' + text.slice(open + 1);
}

/** Removes one member or element: the inverse of insertFirst when it was put there by it. */
function removeChild(text: string, container: Node, child: Node): string {
  const start = child.offset;
  const end = child.offset + child.length;
  const after = nextToken(text, end);
  const lineStart = lineStartOf(text, start);
  const ownLine = text.slice(lineStart, start).trim() === '';
  // Back over the line break before the member too, when the member starts its own line.
  const cutFrom = ownLine ? lineStart - (text.slice(0, lineStart).endsWith('\r\n') ? 2 : text.slice(0, lineStart).endsWith('\n') ? 1 : 0) : start;
  if (after.kind === SyntaxKind.CommaToken) {
    if (ownLine) return text.slice(0, cutFrom) + text.slice(after.end);
    // One-line container: take the member, its comma and the space insertFirst put after it.
    const tail = text.slice(after.end, after.end + 1) === ' ' ? after.end + 1 : after.end;
    return text.slice(0, start) + text.slice(tail);
  }
  const siblings = container.children ?? [];
  const index = siblings.indexOf(child);
  if (index > 0) {
    // The last member: the comma before it goes, whatever comment follows that comma stays.
    const previous = siblings[index - 1]!;
    const comma = nextToken(text, previous.offset + previous.length);
    const withoutMember = text.slice(0, ownLine ? cutFrom : start) + text.slice(end);
    if (comma.kind !== SyntaxKind.CommaToken) return withoutMember;
    return withoutMember.slice(0, comma.offset) + withoutMember.slice(comma.end);
  }
  // The only member: `{ "exai": … }` becomes `{}` when nothing else is inside.
  const open = container.offset;
  const close = container.offset + container.length - 1;
  const rest = text.slice(open + 1, start) + text.slice(end, close);
  if (rest.trim() === '') return text.slice(0, open + 1) + text.slice(close);
  return text.slice(0, ownLine ? cutFrom : start) + text.slice(end);
}
