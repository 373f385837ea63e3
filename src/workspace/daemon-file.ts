/**
 * `<workspace>/.exai/daemon.json`: the workspace's own daemon, which exai runs instead of its own
 * (DESIGN.md "The workspace's own daemon"). Parsed and checked here, at the edge, into a spec
 * whose placeholders are expanded only when a start knows the port, state dir and token.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { parse as parseJsonc, printParseErrorCode, type ParseError } from 'jsonc-parser';
import { parseDuration } from '../common/duration.js';
import { ExaiError, errnoCode, errorMessage } from '../common/errors.js';
import { ENV_NAME } from './registry-file.js';

export const DAEMON_FILE = ['.exai', 'daemon.json'] as const;
export const SERVERS_FILE = ['.exai', 'servers.json'] as const;

/** How exai tells the daemon is up: a TCP connect, an HTTP answer on a path, or a text in its output. */
export type Readiness = ({ kind: 'tcp' } | { kind: 'http'; path: string } | { kind: 'log'; text: string }) & { timeoutMs: number };

export type DaemonClient =
  /** `wake`: exai's shim goes in front (`exai shim --exec -- …`) and starts the daemon when it is down. */
  | { type: 'stdio'; command: string; args: string[]; env: Record<string, string>; wake: boolean }
  | { type: 'http'; url: string };

export interface DaemonFile {
  file: string;
  /** The file's text: the launch digest includes it, so an edit restarts the daemon at the next spawn. */
  text: string;
  command: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  /** Path -> content, written 0600 before every start. */
  files: Record<string, string>;
  ready: Readiness;
  client: DaemonClient;
}

/** 30 s: what a daemon that names no timeout gets to become ready. */
export const DEFAULT_READY_TIMEOUT_MS = 30_000;

const PLACEHOLDER = /\$\{([^}]*)\}/g;

export function daemonFilePath(workspace: string): string {
  return join(workspace, ...DAEMON_FILE);
}

/**
 * The workspace's daemon.json, checked; undefined when there is none. DAEMON_FILE_INVALID (one
 * line naming the file and the problem) for anything wrong, and for a workspace that also has
 * a servers.json: it runs either exai's daemon (with its servers) or its own.
 */
export function loadDaemonFile(workspace: string): DaemonFile | undefined {
  const file = daemonFilePath(workspace);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw invalid(file, `cannot read it (${code ?? errorMessage(err)})`);
  }
  const servers = join(workspace, ...SERVERS_FILE);
  try {
    readFileSync(servers);
    throw invalid(file, `${servers} exists too; a workspace runs either exai's daemon (servers.json) or its own (daemon.json): delete one of them`);
  } catch (err) {
    if (err instanceof ExaiError) throw err;
  }
  return parseDaemonFile(text, workspace, file);
}

export function parseDaemonFile(text: string, workspace: string, file: string = daemonFilePath(workspace)): DaemonFile {
  const errors: ParseError[] = [];
  const raw: unknown = parseJsonc(text, errors, { allowTrailingComma: true, disallowComments: false });
  if (errors[0]) throw invalid(file, `not valid JSON (${printParseErrorCode(errors[0].error)} at offset ${errors[0].offset})`);
  const o = object(raw, file, 'the top level', '{"command": "...", "args": [...], "ready": {...}, "client": {...}}');
  known(o, ['command', 'args', 'cwd', 'env', 'files', 'ready', 'client'], file, '');
  const command = str(o.command, file, 'command');
  const args = strList(o.args, file, 'args');
  const cwd = o.cwd === undefined ? '${workspaceFolder}' : str(o.cwd, file, 'cwd');
  const env = strMap(o.env, file, 'env', true);
  const files = strMap(o.files, file, 'files', false);
  const ready = readiness(o.ready, file);
  const client = clientDecl(o.client, file);
  for (const [where, value] of [['command', command], ['cwd', cwd], ...args.map((a, i) => [`args[${i}]`, a]), ...Object.entries(env).map(([k, v]) => [`env.${k}`, v]), ...Object.entries(files).flatMap(([k, v]) => [[`files key ${JSON.stringify(k)}`, k], [`files.${k}`, v]])] as [string, string][]) {
    checkPlaceholders(value, file, where, where.startsWith('env.') || where.startsWith('files.'));
  }
  for (const key of Object.keys(files)) {
    // A `..` segment (or `${stateDir}x`, a sibling) would write beside the state dir: into another
    // workspace's state, the registry or the tokens. `${env:NAME}` could smuggle one in at expansion.
    const rest = key.startsWith('${stateDir}/') ? key.slice('${stateDir}/'.length) : undefined;
    if (rest === undefined || rest === '' || rest.split(/[\\/]/).includes('..') || rest.includes('${env:')) {
      throw invalid(file, `files key ${JSON.stringify(key)} must start with \${stateDir}/ and stay inside it (no "..", no \${env:NAME}; exai writes only into the workspace's private state dir)`);
    }
  }
  const clientStrings = client.type === 'http' ? [['client.url', client.url]] : [['client.command', client.command], ...client.args.map((a, i) => [`client.args[${i}]`, a]), ...Object.entries(client.env).map(([k, v]) => [`client.env.${k}`, v])];
  for (const [where, value] of clientStrings as [string, string][]) checkPlaceholders(value, file, where, false, true);
  return { file, text, command, args, cwd, env, files, ready, client };
}

/** Names of `${env:NAME}` the daemon's launch uses: recorded like `--pass-env`. */
export function daemonEnvNames(spec: DaemonFile): string[] {
  const names = new Set<string>();
  const strings = [spec.command, spec.cwd, ...spec.args, ...Object.values(spec.env), ...Object.keys(spec.files), ...Object.values(spec.files)];
  for (const s of strings) for (const m of s.matchAll(PLACEHOLDER)) if (m[1]!.startsWith('env:')) names.add(m[1]!.slice(4));
  return [...names];
}

export interface Expansion {
  port: number;
  workspace: string;
  stateDir: string;
  token?: string;
  /** Values for `${env:NAME}` (the recorded launch environment's passed values). */
  env?: Record<string, string>;
  /** `${workspaceFolder}` is left for the client to expand (VS Code). */
  keepWorkspaceFolder?: boolean;
}

/** Expands the placeholders of one string; ENV_INVALID for a `${env:NAME}` with no recorded value. */
export function expand(value: string, x: Expansion): string {
  return value.replace(PLACEHOLDER, (whole, name: string) => {
    if (name === 'port') return String(x.port);
    if (name === 'workspaceFolder') return x.keepWorkspaceFolder ? whole : x.workspace;
    if (name === 'stateDir') return x.stateDir;
    if (name === 'token' && x.token !== undefined) return x.token;
    if (name.startsWith('env:')) {
      const v = x.env?.[name.slice(4)];
      if (v === undefined) throw new ExaiError('ENV_INVALID', `${name.slice(4)} is used by .exai/daemon.json (\${${name}}) but has no recorded value; set it and run exai spawn again`);
      return v;
    }
    return whole;
  });
}

/** What the exai launcher runs (tokens/<id>.daemon.json, 0600): everything expanded. */
export interface DaemonLaunch {
  version: 1;
  command: string;
  args: string[];
  cwd: string;
  stateDir: string;
  env: Record<string, string>;
  files: Record<string, string>;
  /** With a `wake` client: exit idle after this long without a live `exai shim --exec` lease (0 = never). */
  idleTimeoutMs: number;
  leasesDir: string;
}

/** The launch of `spec` on `x.port`, on top of the base environment `baseEnv` (PATH, HOME, passed values). */
export function daemonLaunch(spec: DaemonFile, x: Expansion, baseEnv: Record<string, string>, idle: { idleTimeoutMs: number; leasesDir: string } = { idleTimeoutMs: 0, leasesDir: '' }): DaemonLaunch {
  const e = (v: string) => expand(v, x);
  const cwd = e(spec.cwd);
  const env: Record<string, string> = { ...baseEnv };
  for (const [k, v] of Object.entries(spec.env)) env[k] = e(v);
  const files: Record<string, string> = {};
  for (const [k, v] of Object.entries(spec.files)) files[e(k)] = e(v);
  return { version: 1, command: e(spec.command), args: spec.args.map(e), cwd: isAbsolute(cwd) ? cwd : resolve(x.workspace, cwd), stateDir: x.stateDir, env, files, ...idle };
}

function checkPlaceholders(value: string, file: string, where: string, tokenAllowed: boolean, inClient = false): void {
  for (const m of value.matchAll(PLACEHOLDER)) {
    const name = m[1]!;
    if (name === 'port' || name === 'workspaceFolder' || name === 'stateDir') continue;
    if (name === 'token') {
      if (tokenAllowed) continue;
      throw invalid(file, inClient ? `${where}: \${token} is refused in the client entry (it would land in a client config); put it in "files" under \${stateDir} and let the client read it from there` : `${where}: \${token} is allowed only in "env" and "files"`);
    }
    if (name.startsWith('env:') && ENV_NAME.test(name.slice(4))) {
      if (inClient) throw invalid(file, `${where}: \${${name}} is refused in the client entry (its value would land in a client config); pass it to the daemon in "env" or "files" instead`);
      continue;
    }
    throw invalid(file, `${where}: unknown placeholder ${m[0]} (use \${port}, \${workspaceFolder}, \${stateDir}, \${token} or \${env:NAME})`);
  }
}

function readiness(value: unknown, file: string): Readiness {
  if (value === undefined) return { kind: 'tcp', timeoutMs: DEFAULT_READY_TIMEOUT_MS };
  const o = object(value, file, 'ready', '{"tcp": true} or {"http": "/health"} or {"log": "listening on"}, with an optional "timeout": "90s"');
  known(o, ['tcp', 'http', 'log', 'timeout'], file, 'ready.');
  let timeoutMs = DEFAULT_READY_TIMEOUT_MS;
  if (o.timeout !== undefined) {
    let parsed: number | undefined;
    try {
      parsed = typeof o.timeout === 'number' ? o.timeout : typeof o.timeout === 'string' ? parseDuration(o.timeout, 'ready.timeout') : undefined;
    } catch {
      parsed = undefined;
    }
    if (parsed === undefined || !Number.isFinite(parsed) || parsed <= 0) throw invalid(file, `ready.timeout: expected a duration such as "90s" or a number of ms`);
    timeoutMs = parsed;
  }
  const kinds = ['tcp', 'http', 'log'].filter((k) => o[k] !== undefined && o[k] !== false);
  if (kinds.length !== 1) throw invalid(file, `ready: name exactly one of "tcp": true, "http": "/path", "log": "text"`);
  if (o.tcp !== undefined && o.tcp !== false) {
    if (o.tcp !== true) throw invalid(file, 'ready.tcp: expected true');
    return { kind: 'tcp', timeoutMs };
  }
  if (o.http !== undefined) {
    const path = str(o.http, file, 'ready.http');
    if (!path.startsWith('/')) throw invalid(file, 'ready.http: expected a path starting with /');
    return { kind: 'http', path, timeoutMs };
  }
  return { kind: 'log', text: str(o.log, file, 'ready.log'), timeoutMs };
}

function clientDecl(value: unknown, file: string): DaemonClient {
  const o = object(value, file, 'client', '{"command": "...", "args": [...]} or {"type": "http", "url": "http://127.0.0.1:${port}/mcp"}');
  if (o.type === 'http') {
    known(o, ['type', 'url'], file, 'client.');
    const url = str(o.url, file, 'client.url');
    if (!/^https?:\/\//.test(url)) throw invalid(file, 'client.url: expected an http:// URL such as "http://127.0.0.1:${port}/mcp"');
    return { type: 'http', url };
  }
  if (o.type !== undefined && o.type !== 'stdio') throw invalid(file, `client.type: expected "stdio" or "http"`);
  known(o, ['type', 'command', 'args', 'env', 'wake'], file, 'client.');
  if (o.wake !== undefined && typeof o.wake !== 'boolean') throw invalid(file, 'client.wake: expected true or false');
  return { type: 'stdio', command: str(o.command, file, 'client.command'), args: strList(o.args, file, 'client.args'), env: strMap(o.env, file, 'client.env', true), wake: o.wake === true };
}

function invalid(file: string, problem: string): ExaiError {
  return new ExaiError('DAEMON_FILE_INVALID', `${file}: ${problem}; fix the file and run exai spawn again`);
}

function object(value: unknown, file: string, where: string, shape: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(file, `${where}: expected an object, ${shape}`);
  return value as Record<string, unknown>;
}

function known(o: Record<string, unknown>, keys: readonly string[], file: string, prefix: string): void {
  const extra = Object.keys(o).find((k) => !keys.includes(k));
  if (extra !== undefined) throw invalid(file, `${prefix}${extra}: unknown field (known: ${keys.join(', ')})`);
}

function str(value: unknown, file: string, where: string): string {
  if (typeof value !== 'string' || value === '') throw invalid(file, `${where}: expected a non-empty string`);
  return value;
}

function strList(value: unknown, file: string, where: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw invalid(file, `${where}: expected an array of strings`);
  return value as string[];
}

function strMap(value: unknown, file: string, where: string, names: boolean): Record<string, string> {
  if (value === undefined) return {};
  const o = object(value, file, where, '{"NAME": "value"}');
  for (const [k, v] of Object.entries(o)) {
    if (typeof v !== 'string') throw invalid(file, `${where}.${k}: expected a string`);
    if (names && !ENV_NAME.test(k)) throw invalid(file, `${where}: ${JSON.stringify(k)} is not a variable name`);
  }
  return o as Record<string, string>;
}
