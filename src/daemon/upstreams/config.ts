import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { parse as parseJsonc, printParseErrorCode, type ParseError } from 'jsonc-parser';
import { z } from 'zod';
import { parseDuration } from '../../common/duration.js';
import { errnoCode, errorMessage } from '../../common/errors.js';
import { expandPlaceholders, placeholderFields, type SubstitutionContext } from './placeholders.js';
import type { Lifecycle } from '../../workspace/status.js';

/** Where a workspace declares its own MCP servers, relative to the workspace folder. */
export const SERVERS_DIR = '.exai';
export const SERVERS_FILE_NAME = 'servers.json';

export function serversFile(workspace: string): string {
  return join(workspace, SERVERS_DIR, SERVERS_FILE_NAME);
}

/** When an upstream runs (DESIGN.md "Upstreams"); shared with the CLI through exai_status. */
export type { Lifecycle };

/**
 * Which MCP era exai speaks to an upstream: `auto` (default) probes with `server/discover` and
 * falls back to `initialize`; a revision pins it (no probe). See era.ts.
 */
export type UpstreamProtocol = 'auto' | '2025-11-25' | '2026-07-28';
export const UPSTREAM_PROTOCOLS: readonly UpstreamProtocol[] = ['auto', '2025-11-25', '2026-07-28'];

/** A lazy upstream with no `idleTimeout` stops after this long without use (ms). */
export const DEFAULT_LAZY_IDLE_TIMEOUT_MS = 10 * 60_000;

/**
 * One upstream, ready to spawn: variables substituted, cwd absolute. Names never contain `__`
 * and never end with `_`, so `<server>__<name>` splits unambiguously at its first `__`.
 */
export interface UpstreamSpec {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string;
  readonly lifecycle: Lifecycle;
  /** Stop after this long with no call, no subscription and nothing in flight (ms); 0 = never. */
  readonly idleTimeoutMs: number;
  /** The era to speak to it (`"protocol"` in servers.json; default auto). */
  readonly protocol: UpstreamProtocol;
}

export type ServersConfig =
  /** `specs` is empty when the file does not exist: no upstreams is a valid configuration. */
  | { readonly ok: true; readonly file: string; readonly exists: boolean; readonly specs: readonly UpstreamSpec[] }
  /**
   * `error` is one line naming the file and the problem, for logs, `exai_status` and the CLI.
   * `names`: the servers the file still declares, when it parses as JSON and has a servers
   * object (unset otherwise): the daemon drops running servers the file no longer names.
   */
  | { readonly ok: false; readonly file: string; readonly exists: true; readonly error: string; readonly names?: readonly string[] };

export const SERVER_NAME_PATTERN = /^[A-Za-z0-9_-]+$/;

const serverNameSchema = z
  .string()
  .regex(SERVER_NAME_PATTERN, 'use only letters, digits, "_" and "-"')
  .refine((name) => !name.includes('__'), 'must not contain "__" (it separates server and tool names)')
  .refine((name) => !name.endsWith('_'), 'must not end with "_" (it would make prefixed names ambiguous)');

// The same fields as an mcp.json stdio entry; a typo such as "arg" is an error rather than
// an upstream silently started without its arguments.
const entrySchema = z.strictObject({
  type: z.literal('stdio', { error: 'only "stdio" servers are supported' }).optional(),
  command: z.string().trim().min(1, 'must be a non-empty string'),
  args: z.array(z.string()).optional(),
  env: z.record(z.string(), z.string()).optional(),
  cwd: z.string().min(1).optional(),
  lifecycle: z.enum(['eager', 'lazy'], { error: 'must be "eager" (start with the daemon) or "lazy" (start on first use)' }).optional(),
  protocol: z
    .enum(['auto', '2025-11-25', '2026-07-28'], {
      error: 'must be "auto" (probe, then fall back), "2025-11-25" (initialize) or "2026-07-28" (server/discover)',
    })
    .optional(),
  // A string as the CLI's --idle-timeout takes it ("90s", "10m", "2h", "0" = never), or a
  // number of milliseconds (the unit of timeouts in mcp.json-style files, e.g. Gemini CLI's).
  // Any JSON value reaches the check below, so `true` or `null` get the same line with the fix.
  idleTimeout: z
    .unknown()
    .transform((value, ctx) => {
      const ms = typeof value === 'number' ? value : typeof value === 'string' ? durationOrUndefined(value) : undefined;
      if (ms === undefined || !Number.isSafeInteger(ms) || ms < 0) {
        ctx.addIssue({
          code: 'custom',
          message: `${JSON.stringify(value)} is not a duration; write it like "90s", "10m" or "2h" ("0" = never; a number is milliseconds)`,
        });
        return z.NEVER;
      }
      return ms;
    })
    .optional(),
});

function durationOrUndefined(text: string): number | undefined {
  try {
    return parseDuration(text, 'idleTimeout');
  } catch {
    return undefined;
  }
}

const fileSchema = z.looseObject({
  servers: z.record(z.string(), entrySchema).superRefine((servers, ctx) => {
    for (const name of Object.keys(servers)) {
      const checked = serverNameSchema.safeParse(name);
      if (!checked.success) {
        ctx.addIssue({ code: 'custom', message: `server name ${JSON.stringify(name)} ${checked.error.issues[0]?.message ?? 'is invalid'}` });
      }
    }
  }),
});

export type { SubstitutionContext } from './placeholders.js';

/**
 * Parses servers.json text (JSONC, like mcp.json: comments and trailing commas allowed).
 * Never throws: a problem comes back as `{ ok: false, error }`.
 */
export function parseServersConfig(
  text: string,
  workspace: string,
  file: string = serversFile(workspace),
  context: SubstitutionContext = {},
): ServersConfig {
  const errors: ParseError[] = [];
  const raw: unknown = parseJsonc(text, errors, { allowTrailingComma: true, disallowComments: false });
  const fail = (problem: string, parsed = true): ServersConfig => ({
    ok: false,
    file,
    exists: true,
    error: `${file}: ${problem}; fix the file (meanwhile exai serves its built-in tools and any upstreams already running)`,
    ...(parsed && declaredNames(raw) ? { names: declaredNames(raw) } : {}),
  });
  const first = errors[0];
  if (first) return fail(`not valid JSON (${printParseErrorCode(first.error)} at ${position(text, first.offset)})`, false);
  if (isObject(raw) && 'mcpServers' in raw) return fail('found "mcpServers": use "servers" (this file is not an mcp.json)');
  const shape = shapeProblem(raw);
  if (shape) return fail(shape);
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) return fail(describeIssue(parsed.error.issues, raw));
  // Placeholders are checked over the whole file before anything is used: one refused
  // placeholder makes the file an error, like any other mistake in it.
  for (const { at, value } of placeholderFields(parsed.data)) {
    const expansion = expandPlaceholders(value, workspace, context);
    if (!expansion.ok) return fail(`at ${at}: ${expansion.error}`);
  }
  const specs: UpstreamSpec[] = [];
  for (const [name, entry] of Object.entries(parsed.data.servers)) {
    const sub = (value: string): string => {
      const expansion = expandPlaceholders(value, workspace, context);
      return expansion.ok ? expansion.value : value; // refused ones were reported above
    };
    const env: Record<string, string> = {};
    for (const [key, value] of Object.entries(entry.env ?? {})) env[key] = sub(value);
    const cwd = entry.cwd === undefined ? workspace : sub(entry.cwd);
    specs.push({
      name,
      command: sub(entry.command),
      args: (entry.args ?? []).map(sub),
      env,
      cwd: isAbsolute(cwd) ? cwd : resolve(workspace, cwd),
      lifecycle: entry.lifecycle ?? 'eager',
      idleTimeoutMs: entry.idleTimeout ?? (entry.lifecycle === 'lazy' ? DEFAULT_LAZY_IDLE_TIMEOUT_MS : 0),
      protocol: entry.protocol ?? 'auto',
    });
  }
  return { ok: true, file, exists: true, specs };
}

const HTTP_TYPES = new Set(['http', 'sse', 'streamable-http', 'streamableHttp']);

/**
 * The mistakes of shape people make, in plain words rather than the validator's: "servers" as
 * a list, and an HTTP server's entry (copied from an mcp.json) where exai runs stdio servers only.
 */
function shapeProblem(raw: unknown): string | undefined {
  if (!isObject(raw) || !('servers' in raw)) return undefined;
  const servers = raw.servers;
  if (!isObject(servers)) {
    const was = Array.isArray(servers) ? 'a list' : servers === null ? 'null' : `a ${typeof servers}`;
    return `"servers" must be an object of named entries ({"<name>": {"command": "...", "args": [...]}}), not ${was}`;
  }
  for (const [name, entry] of Object.entries(servers)) {
    if (!isObject(entry)) continue;
    const http = 'url' in entry ? '"url"' : typeof entry.type === 'string' && HTTP_TYPES.has(entry.type) ? `"type": ${JSON.stringify(entry.type)}` : undefined;
    if (http) {
      return `server ${JSON.stringify(name)} is an HTTP server (${http}), but exai runs stdio servers only: run an HTTP server as the workspace's own daemon (.exai/daemon.json), or give a stdio bridge as its "command"`;
    }
  }
  return undefined;
}

/** One line for the first problem zod found; a misspelt key first, named with the key it resembles. */
function describeIssue(issues: readonly z.core.$ZodIssue[], raw: unknown): string {
  const unknown = issues.find((i) => i.code === 'unrecognized_keys');
  if (unknown && unknown.code === 'unrecognized_keys') {
    const where = unknown.path.length > 0 ? `at ${unknown.path.map(String).join('.')}: ` : '';
    return where + unknown.keys.map(unknownKey).join('; ');
  }
  const issue = issues[0];
  const [top, name, key] = issue?.path ?? [];
  const entry = isObject(raw) && isObject(raw.servers) && typeof name === 'string' ? raw.servers[name] : undefined;
  if (top === 'servers' && typeof name === 'string' && key === 'command' && issue?.path.length === 3 && isObject(entry) && !('command' in entry)) {
    return `at servers.${name}: server ${JSON.stringify(name)} has no "command"; add one (the program that runs the server, e.g. "npx")`;
  }
  const where = issue && issue.path.length > 0 ? `at ${issue.path.map(String).join('.')}: ` : '';
  // The expected shape helps when the top of the file is wrong; deeper, the path says enough.
  const shape = !issue || issue.code === 'invalid_type' && issue.path.length <= 1
    ? ' (expected {"servers": {"<name>": {"command": "...", "args": [...]}}})'
    : '';
  return `${where}${issue?.message ?? 'invalid'}${shape}`;
}

const ENTRY_KEYS = Object.keys(entrySchema.shape);

function unknownKey(key: string): string {
  const near = nearestKey(key, ENTRY_KEYS);
  return near
    ? `unknown key ${JSON.stringify(key)} (did you mean ${JSON.stringify(near)}?)`
    : `unknown key ${JSON.stringify(key)} (an entry takes ${ENTRY_KEYS.map((k) => JSON.stringify(k)).join(', ')})`;
}

/** The known key `key` is most likely a slip for: same letters in another case, or at most a third of them edited. */
export function nearestKey(key: string, known: readonly string[]): string | undefined {
  let best: { key: string; distance: number } | undefined;
  for (const candidate of known) {
    const distance = candidate.toLowerCase() === key.toLowerCase() ? 0 : editDistance(key, candidate);
    if (!best || distance < best.distance) best = { key: candidate, distance };
  }
  return best && best.distance <= Math.max(1, Math.floor(Math.max(key.length, best.key.length) / 3)) ? best.key : undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * The server names a file that parses as JSON but is not valid still declares (under "servers"
 * or "mcpServers"); undefined when it has no such object, which says nothing about them.
 */
function declaredNames(raw: unknown): readonly string[] | undefined {
  if (!isObject(raw)) return undefined;
  const servers = isObject(raw.servers) ? raw.servers : isObject(raw.mcpServers) ? raw.mcpServers : undefined;
  return servers && Object.keys(servers);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads and validates `<workspace>/.exai/servers.json`. A missing file means no upstreams. */
export function loadServersConfig(workspace: string): ServersConfig {
  const file = serversFile(workspace);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT' || code === 'ENOTDIR') return { ok: true, file, exists: false, specs: [] };
    return {
      ok: false,
      file,
      exists: true,
      error: `${file}: cannot read it (${code ?? errorMessage(err)}); make it readable by the daemon's user`,
    };
  }
  return parseServersConfig(text, workspace, file);
}

export function sameSpec(a: UpstreamSpec, b: UpstreamSpec): boolean {
  return JSON.stringify(canonicalSpec(a)) === JSON.stringify(canonicalSpec(b));
}

/** Whether two loads differ in anything the daemon acts on or reports. */
export function sameConfig(a: ServersConfig, b: ServersConfig): boolean {
  if (a.ok !== b.ok || a.exists !== b.exists) return false;
  if (!a.ok || !b.ok) return !a.ok && !b.ok && a.error === b.error;
  return a.specs.length === b.specs.length && a.specs.every((spec, i) => {
    const other = b.specs[i];
    return other !== undefined && sameSpec(spec, other);
  });
}

function canonicalSpec(spec: UpstreamSpec): unknown {
  return [spec.name, ...processSpec(spec), spec.lifecycle, spec.idleTimeoutMs, spec.protocol];
}

/** What decides which process runs, and so what it offers: command, args, env, cwd. */
function processSpec(spec: UpstreamSpec): unknown[] {
  const env = Object.keys(spec.env).sort().map((key) => [key, spec.env[key]]);
  return [spec.command, spec.args, env, spec.cwd];
}

/**
 * The key a cached catalog is filed under: a SHA-256 of command, args, env and cwd, so a
 * changed entry never serves the old process's tools (and no env value is stored in clear).
 */
export function specKey(spec: UpstreamSpec): string {
  return createHash('sha256').update(JSON.stringify(processSpec(spec))).digest('hex');
}

function position(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - before.lastIndexOf('\n');
  return `line ${line}, column ${column}`;
}
