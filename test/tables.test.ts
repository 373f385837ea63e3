/**
 * One table per kind of code (issue 22), checked against the sources the way the MCP SDK's
 * brand-conformance test checks its classes: read every file under src/ and fail on a code
 * the table does not name. Three tables: every local string code (ExaiError's, DialError's and
 * none hung on a plain Error: src/common/errors.ts), the
 * JSON-RPC error numbers exai puts on the wire (src/transport/jsonrpc.ts), and process exit
 * codes (src/common/exit-codes.ts).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT_CODES } from '../src/common/exit-codes.js';
import { WIRE_ERROR_CODES } from '../src/transport/jsonrpc.js';
import { ROOT } from './helpers/env.js';

const SRC = join(ROOT, 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : /\.c?ts$/.test(e.name) ? [join(dir, e.name)] : [],
  );
}

/** The code without its comments (a comment may quote any number). */
function code(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
}

const files = sourceFiles(SRC).map((path) => ({ path: relative(ROOT, path), text: code(readFileSync(path, 'utf8')) }));

/** The members of `export type ErrorCode = | 'A' | 'B' …` in errors.ts. */
function errorCodeTable(): Set<string> {
  const text = readFileSync(join(SRC, 'common', 'errors.ts'), 'utf8');
  const union = /export type ErrorCode =([^;]+);/.exec(text)?.[1] ?? '';
  return new Set([...union.matchAll(/'([A-Z0-9_]+)'/g)].map((m) => m[1]!));
}

/**
 * String codes an ExaiError (or its DialError) is made with or tested for, per file, and any
 * code hung on a plain Error (`{ code: 'X' }`): one table for every local code, so such a code
 * must be in it too (better: be an ExaiError).
 */
export function errorCodesUsed(text: string): string[] {
  const patterns = [
    /(?:Exai|Dial)Error\(\s*'([A-Z0-9_]+)'/g,
    /isExaiError\([^,()]+,\s*'([A-Z0-9_]+)'/g,
    /^\s*([A-Z][A-Z0-9_]+): \{ code: EXIT_/gm,
    /\bcode:\s*'([A-Z][A-Z0-9_]+)'/g,
  ];
  return patterns.flatMap((re) => [...text.matchAll(re)].map((m) => m[1]!));
}

/** JSON-RPC error numbers written as literals (the spec's range and the server-error range). */
export function wireCodesUsed(text: string): number[] {
  return [...text.matchAll(/(?<![\w.])-32\d{3}\b/g)].map((m) => Number(m[0]));
}

/** Exit codes written as numbers: process.exit(N), exitAfterFlush(N), process.exitCode = N, `return N;` of a command. */
export function exitLiterals(text: string, commandFile: boolean): number[] {
  const patterns = [/process\.exit\(\s*(\d+)\s*\)/g, /exitAfterFlush\(\s*(\d+)\s*\)/g, /process\.exitCode\s*=\s*(\d+)/g];
  if (commandFile) patterns.push(/\breturn (\d+);/g, /\breturn \w+ \? (\d+) : (\d+);/g);
  return patterns.flatMap((re) => [...text.matchAll(re)].flatMap((m) => m.slice(1).filter(Boolean).map(Number)));
}

/** Files whose `return N;` is an exit code: the CLI's commands and the daemon's run. */
const isCommandFile = (path: string) => path.startsWith(join('src', 'cli')) || path === join('src', 'daemon', 'run.ts');

describe('one table per kind of code', () => {
  it('every ExaiError code used in src/ is in the ErrorCode table, and every code in the table is used', () => {
    const table = errorCodeTable();
    expect(table.size).toBeGreaterThan(10);
    const used = new Map<string, string[]>();
    for (const f of files) for (const c of errorCodesUsed(f.text)) used.set(c, [...(used.get(c) ?? []), f.path]);
    const unknown = [...used].filter(([c]) => !table.has(c)).map(([c, where]) => `${c} (${where.join(', ')})`);
    expect(unknown, 'codes used in src/ but missing from ErrorCode in src/common/errors.ts').toEqual([]);
    const unused = [...table].filter((c) => !used.has(c));
    expect(unused, 'codes in the ErrorCode table that nothing in src/ throws').toEqual([]);
  });

  it('every JSON-RPC error number in src/ is in the wire table of transport/jsonrpc.ts', () => {
    const table = new Set<number>(Object.values(WIRE_ERROR_CODES));
    const unknown = files.flatMap((f) => wireCodesUsed(f.text).filter((n) => !table.has(n)).map((n) => `${n} (${f.path})`));
    expect(unknown, 'add the code to WIRE_ERROR_CODES (src/transport/jsonrpc.ts) with what it means').toEqual([]);
  });

  it('every exit code in src/ is in the table of common/exit-codes.ts, and none but 0 and 1 is a bare number', () => {
    const table = new Set<number>(Object.values(EXIT_CODES));
    expect(new Set(Object.values(EXIT_CODES)).size, 'two names for one exit code').toBe(Object.keys(EXIT_CODES).length);
    const found = files.flatMap((f) => exitLiterals(f.text, isCommandFile(f.path)).map((n) => ({ n, path: f.path })));
    expect(found.length, 'the scan sees the exits it should').toBeGreaterThan(5);
    expect(found.filter(({ n }) => !table.has(n)).map(({ n, path }) => `${n} (${path})`), 'an exit code missing from src/common/exit-codes.ts').toEqual([]);
    expect(found.filter(({ n }) => n > 1).map(({ n, path }) => `${n} (${path})`), 'use the EXIT_ name instead of the number').toEqual([]);
  });

  it('the scanners see what they look for (a planted new code fails each check)', () => {
    expect(errorCodesUsed(`throw new ExaiError('BRAND_NEW', 'x'); if (isExaiError(err, 'OTHER_NEW')) {}`)).toEqual(['BRAND_NEW', 'OTHER_NEW']);
    expect(errorCodesUsed(`fail(new DialError('DIAL_NEW', 'x')); throw Object.assign(new Error('x'), { code: 'ADHOC_NEW' });`)).toEqual(['DIAL_NEW', 'ADHOC_NEW']);
    expect(wireCodesUsed('errorResponse(id, -32099, "x")')).toEqual([-32099]);
    expect(exitLiterals('process.exit(7); return 2;', true)).toEqual([7, 2]);
    expect(exitLiterals('return usageError ? 2 : 0;', true)).toEqual([2, 0]);
    expect(exitLiterals('return 2;', false)).toEqual([]);
    expect(code('const a = 1; // exits -32099\n/* 130 */ process.exit(3)')).not.toContain('-32099');
  });
});
