import { dirname, join } from 'node:path';
import { CLI_ENTRY, nodeExecutable } from '../common/install.js';
import { homeLayout, pm2Home, stateDirsEnv, type StateDirs } from '../workspace/layout.js';
import { CLIENT_SPECS, ENTRY_NAME } from './clients/catalog.js';
import { approveExai, checkClaudeApproval, claudeApprovalPath, revokeExai } from './clients/claude-approval.js';
import { checkFolderWritable, isPlainObject, isReadOnly, readConfigText, readOnlyError, writeConfigText, writeOrDeleteConfig, lookup, type ConfigText } from './clients/io.js';
import { checkJsonc, deleteJsonc, jsoncValue, setJsonc } from './clients/jsonc.js';
import { checkToml, deleteToml, setTomlTable, tomlValue } from './clients/toml.js';
import { DEFAULT_PORT_BASE, DEFAULT_PORT_STRIDE, portSettings, type PortSettings } from './ports.js';
import { CLIENT_KINDS, type ClientKind } from './registry.js';
import { expand, type DaemonClient, type DaemonFile } from '../workspace/daemon-file.js';

/**
 * Client configs: exai's entry in each client's workspace config, written, checked, read and
 * taken out again. The per-client facts live in clients/catalog.ts, the format engines in
 * clients/jsonc.ts and clients/toml.ts.
 */

export { ENTRY_NAME };

export interface ClientEntry {
  /** Absent for clients whose config has no such field (Codex). */
  type?: 'stdio';
  command: string;
  args: string[];
  /**
   * EXAI_HOME, PM2_HOME and the port range are present only when not the defaults;
   * `undefined` = take it out.
   */
  env: {
    EXAI_WS_PORT: string;
    EXAI_WORKSPACE: string;
    EXAI_HOME: string | undefined;
    PM2_HOME: string | undefined;
    EXAI_PORT_BASE: string | undefined;
    EXAI_PORT_STRIDE: string | undefined;
  };
}

/**
 * exai's entry for Streamable HTTP (Claude Code): the daemon's URL, and a headers helper that
 * prints the bearer header at run time, so no file holds the token (DESIGN.md "Streamable HTTP").
 */
export interface HttpClientEntry {
  type: 'http';
  url: string;
  headersHelper: string;
}

/** Where the shim's state lives and, when the shim has to move a workspace, which ports it may take. */
export interface EntrySettings extends StateDirs {
  /** EXAI_PORT_BASE/EXAI_PORT_STRIDE of the command writing the entry; absent = the defaults. */
  ports?: PortSettings;
  /** The workspace runs its own daemon (.exai/daemon.json): its `client` entry is written instead of exai's shim. */
  own?: { client: DaemonClient; stateDir: string };
  /**
   * `--transport` for Claude Code's entry (`exai spawn --client claude --transport http`);
   * undefined keeps what its entry already is (stdio when there is none).
   */
  claudeTransport?: ClientTransport;
}

export type ClientTransport = 'stdio' | 'http';

/** The clients whose entry can be Streamable HTTP with a headers helper (see README "Clients and transports"). */
export const HTTP_CLIENT_KINDS: readonly ClientKind[] = ['claude'];

export function clientConfigPath(kind: ClientKind, workspace: string): string {
  return join(workspace, ...CLIENT_SPECS[kind].file);
}

/** Every file writing `kind`'s config touches: the config, and for Claude Code its approval. */
export function clientFiles(kind: ClientKind, workspace: string): string[] {
  return kind === 'claude' ? [clientConfigPath(kind, workspace), claudeApprovalPath(workspace)] : [clientConfigPath(kind, workspace)];
}

/** What client configs carry: exai's state dirs and ports, and for a workspace's own daemon its `client` entry. */
export function configSettings(home: string, env: NodeJS.ProcessEnv | undefined, id: string, own: DaemonFile | undefined): EntrySettings {
  const dirs = entrySettings(home, env);
  return own ? { ...dirs, own: { client: own.client, stateDir: homeLayout(home).stateDir(id) } } : dirs;
}

/** The settings an entry written by a command with environment `env` carries (EXAI_HOME, PM2_HOME, ports). */
export function entrySettings(home: string, env: NodeJS.ProcessEnv = process.env): EntrySettings {
  return { home, pm2Home: pm2Home(env), ports: portSettings(env) };
}

/**
 * exai's entry. Absolute node and CLI paths, so editors whose PATH lacks node still start
 * the shim. VS Code expands ${workspaceFolder}; the other clients do not (Codex and Gemini
 * leave it literal), so they get the absolute workspace path. Non-default state dirs and port
 * range are written too: many clients hand the shim only what the entry lists (DESIGN.md
 * "Environment"), and a shim that starts or moves a workspace must pick from the same ports
 * `exai spawn` did.
 */
export function clientEntry(kind: ClientKind, port: number, workspace: string, dirs: EntrySettings): ClientEntry {
  const spec = CLIENT_SPECS[kind];
  if (dirs.own) return ownClientEntry(kind, port, workspace, { ...dirs.own, dirs }) as unknown as ClientEntry;
  return {
    ...(spec.typed ? { type: 'stdio' as const } : {}),
    command: nodeExecutable(),
    args: [CLI_ENTRY, 'shim'],
    env: {
      EXAI_WS_PORT: String(port),
      EXAI_WORKSPACE: spec.expandsWorkspaceFolder ? '${workspaceFolder}' : workspace,
      ...stateDirsEnv(dirs),
      ...portRangeEnv(dirs),
    },
  };
}

/** EXAI_PORT_BASE/EXAI_PORT_STRIDE when not the defaults: a wake that must move picks from the range `spawn` did. */
function portRangeEnv(dirs: EntrySettings): { EXAI_PORT_BASE: string | undefined; EXAI_PORT_STRIDE: string | undefined } {
  return {
    EXAI_PORT_BASE: dirs.ports && dirs.ports.base !== DEFAULT_PORT_BASE ? String(dirs.ports.base) : undefined,
    EXAI_PORT_STRIDE: dirs.ports && dirs.ports.stride !== DEFAULT_PORT_STRIDE ? String(dirs.ports.stride) : undefined,
  };
}

/**
 * The `client` entry of a workspace's own daemon in `kind`'s spelling: a stdio entry as given,
 * placeholders expanded (`${workspaceFolder}` left to clients that expand it), or a URL in the
 * client's own spelling for `"type": "http"`. Members of the other shape are `undefined`, so a
 * switch between shapes (or back to exai's shim) leaves no stale member behind.
 */
function ownClientEntry(kind: ClientKind, port: number, workspace: string, own: { client: DaemonClient; stateDir: string; dirs: StateDirs }): Record<string, unknown> {
  const spec = CLIENT_SPECS[kind];
  const x = { port, workspace, stateDir: own.stateDir, keepWorkspaceFolder: spec.expandsWorkspaceFolder };
  const none = { type: undefined, command: undefined, args: undefined, env: undefined, url: undefined, httpUrl: undefined };
  const c = own.client;
  if (c.type === 'http') return { ...none, ...spec.httpEntry(expand(c.url, { ...x, keepWorkspaceFolder: false })) };
  const env: Record<string, string | undefined> = Object.fromEntries(Object.entries(c.env).map(([k, v]) => [k, expand(v, x)]));
  const command = expand(c.command, x);
  const args = c.args.map((a) => expand(a, x));
  if (c.wake) {
    // exai's shim in front: it starts the daemon when it is down, then runs the user's shim.
    Object.assign(env, { EXAI_WS_PORT: undefined, EXAI_PORT_BASE: undefined, EXAI_PORT_STRIDE: undefined, EXAI_WORKSPACE: spec.expandsWorkspaceFolder ? '${workspaceFolder}' : workspace, ...stateDirsEnv(own.dirs) });
    return { ...none, ...(spec.typed ? { type: 'stdio' } : {}), command: nodeExecutable(), args: [CLI_ENTRY, 'shim', '--exec', '--', command, ...args], env };
  }
  // exai's own variables go from an entry that was exai's shim's before (members merge otherwise).
  const stale = { EXAI_WS_PORT: undefined, EXAI_WORKSPACE: undefined, EXAI_HOME: undefined, PM2_HOME: undefined, EXAI_PORT_BASE: undefined, EXAI_PORT_STRIDE: undefined };
  return { ...none, ...(spec.typed ? { type: 'stdio' } : {}), command, args, env: Object.keys(env).length ? { ...stale, ...env } : undefined };
}

/**
 * Puts exai's entry into the client's config, creating the folder and file when absent; for
 * Claude Code also approves it (clients/claude-approval.ts). Everything outside the entry is
 * kept byte for byte. Throws CONFIG_UNPARSABLE (file left untouched) or CONFIG_WRITE_FAILED.
 */
export async function writeClientConfig(kind: ClientKind, workspace: string, port: number, dirs: EntrySettings): Promise<{ file: string; changed: boolean }> {
  const file = clientConfigPath(kind, workspace);
  const existing = readConfigText(file);
  const next = wantedText(kind, workspace, existing, port, dirs);
  const changed = existing === undefined || next !== existing.body;
  if (changed) writeConfigText(file, next, existing); // a read-only file is refused there
  if (kind === 'claude') approveExai(workspace);
  return { file, changed };
}

/**
 * Claude Code's entry over Streamable HTTP. The helper runs through a shell (Claude Code runs
 * `headersHelper` as a command line), hence the quoted paths; `--wake` starts an idle or
 * stopped daemon first, as the shim would; `--json` prints `{"Authorization": "Bearer …"}`,
 * the object Claude Code reads. Non-default state dirs (EXAI_HOME, PM2_HOME) and port range are
 * set in front of the command, as the stdio entry sets them in its `env`.
 */
export function httpClientEntry(port: number, workspace: string, dirs: EntrySettings): HttpClientEntry {
  const q = (s: string) => (/^[\w@%+=:,./\\-]+$/.test(s) ? s : process.platform === 'win32' ? `"${s}"` : `'${s.replace(/'/g, `'\\''`)}'`);
  const env = Object.entries({ ...stateDirsEnv(dirs), ...portRangeEnv(dirs) }).filter((e): e is [string, string] => e[1] !== undefined);
  // POSIX shells take `NAME=value cmd`; on Windows a non-default EXAI_HOME needs the stdio entry.
  const prefix = process.platform === 'win32' ? '' : env.map(([k, v]) => `${k}=${q(v)} `).join('');
  return {
    type: 'http',
    url: `http://127.0.0.1:${port}/mcp`,
    headersHelper: `${prefix}${q(nodeExecutable())} ${q(CLI_ENTRY)} token --workspace ${q(workspace)} --json --wake`,
  };
}

/** The transport exai's entry in `kind`'s config is to have: the one asked for, else the one it has. */
function entryTransport(kind: ClientKind, existing: ConfigText | undefined, dirs: EntrySettings): ClientTransport {
  if (!HTTP_CLIENT_KINDS.includes(kind)) return 'stdio';
  if (dirs.claudeTransport) return dirs.claudeTransport;
  const spec = CLIENT_SPECS[kind];
  const current = existing && lookup(jsoncValue(existing.body), [...spec.entryPath, 'type']);
  return current === 'http' ? 'http' : 'stdio';
}

/** The config's text with exai's entry as wanted (the same string when it already is). */
function wantedText(kind: ClientKind, workspace: string, existing: ConfigText | undefined, port: number, dirs: EntrySettings): string {
  const spec = CLIENT_SPECS[kind];
  const file = clientConfigPath(kind, workspace);
  const body = existing?.body ?? '';
  // Members whose value is undefined are taken out of the file (EXAI_HOME back at its default;
  // the other transport's members when the entry changes transport).
  // A workspace's own daemon: its `client` entry as it is (clientEntry clears the other shape's members).
  const entry = (
    dirs.own
      ? { ...clientEntry(kind, port, workspace, dirs), headersHelper: undefined }
      : entryTransport(kind, existing, dirs) === 'http'
      ? { ...httpClientEntry(port, workspace, dirs), command: undefined, args: undefined, env: undefined }
      : { ...clientEntry(kind, port, workspace, dirs), url: undefined, headersHelper: undefined }
  ) as unknown as Record<string, unknown>;
  return spec.format === 'toml' ? setTomlTable(body, spec.entryPath, entry, file) : setJsonc(body, spec.entryPath, entry, file);
}

/** The config holds the entry as `dirs` would write it (false when missing or different; 'unparsable'). */
export function configCurrent(kind: ClientKind, workspace: string, port: number, dirs: EntrySettings): boolean | 'unparsable' {
  try {
    const existing = parsedConfig(kind, workspace);
    return existing !== undefined && wantedText(kind, workspace, existing, port, dirs) === existing.body;
  } catch {
    return 'unparsable';
  }
}

/**
 * Throws what writeClientConfig would for an unparsable file, or one whose servers member or
 * exai entry has the wrong shape (`"servers": []`), or a read-only one it would have to change
 * (CONFIG_READ_ONLY; `wanted`: the port and settings the start means to write, when known),
 * without writing: spawn checks every config it will touch before it starts anything, so a bad
 * file costs nothing.
 */
export function checkClientConfig(kind: ClientKind, workspace: string, wanted?: { port: number; dirs: EntrySettings }): void {
  const file = clientConfigPath(kind, workspace);
  const existing = parsedConfig(kind, workspace);
  // Whether the start would rewrite it: asked only when a write could not happen (the edit is not free).
  const changes = () => existing === undefined || !wanted || wantedText(kind, workspace, existing, wanted.port, wanted.dirs) !== existing.body;
  if (existing !== undefined && isReadOnly(existing) && changes()) throw readOnlyError(file, existing);
  try {
    checkFolderWritable(file, 'make it writable, or run with --no-config');
  } catch (err) {
    if (changes()) throw err;
  }
  if (kind === 'claude') checkClaudeApproval(workspace);
}

/** The config as read, after the checks an edit would make (CONFIG_UNPARSABLE); undefined when absent. */
function parsedConfig(kind: ClientKind, workspace: string): ConfigText | undefined {
  const file = clientConfigPath(kind, workspace);
  const existing = readConfigText(file);
  if (existing === undefined) return undefined;
  if (CLIENT_SPECS[kind].format === 'toml') checkToml(existing.body, file, CLIENT_SPECS[kind].entryPath);
  else checkJsonc(existing.body, file, CLIENT_SPECS[kind].entryPath);
  return existing;
}

/**
 * Throws what removeClientEntry would (unparsable; read-only, or in a folder this user cannot
 * write, while it holds exai's entry), without writing: remove checks every config before it
 * deletes anything.
 */
export function checkRemovable(kind: ClientKind, workspace: string): void {
  const file = clientConfigPath(kind, workspace);
  const config = parsedConfig(kind, workspace);
  const holdsExai = config !== undefined && readClientEntry(kind, workspace) !== undefined;
  if (holdsExai && isReadOnly(config)) throw readOnlyError(file, config);
  if (holdsExai) checkFolderWritable(file, 'make it writable and run the command again');
  if (kind !== 'claude') return;
  const approval = readConfigText(claudeApprovalPath(workspace));
  if (approval) checkJsonc(approval.body, claudeApprovalPath(workspace));
  const list = approval && lookup(jsoncValue(approval.body), ['enabledMcpjsonServers']);
  if (approval && isReadOnly(approval) && Array.isArray(list) && list.includes(ENTRY_NAME)) throw readOnlyError(claudeApprovalPath(workspace), approval);
}

/**
 * Takes exai's entry (only that) out of the client's config, and Claude Code's approval of it;
 * a missing file or entry changes nothing. A file left empty goes only when exai created it:
 * `created` says so from the launch spec's record; undefined (an entry of an older exai, or a
 * direct call) trusts only the bytes — a file holding exactly what exai writes into a new file.
 */
export async function removeClientEntry(kind: ClientKind, workspace: string, created?: (path: string) => boolean): Promise<{ file: string; changed: boolean }> {
  const spec = CLIENT_SPECS[kind];
  const file = clientConfigPath(kind, workspace);
  if (kind === 'claude') revokeExai(workspace, created);
  const existing = readConfigText(file);
  if (existing === undefined) return { file, changed: false };
  const next = spec.format === 'toml' ? deleteToml(existing.body, spec.entryPath, file) : deleteJsonc(existing.body, spec.entryPath, file);
  if (next === existing.body) return { file, changed: false };
  const ours = created ? created(file) : holdsExactlyExai(kind, existing.body, file);
  writeOrDeleteConfig(file, next, existing, { root: workspace, file: ours, folder: created ? created(dirname(file)) : true });
  return { file, changed: true };
}

/** `body` is byte for byte what exai writes into a new file for the entry it holds. */
function holdsExactlyExai(kind: ClientKind, body: string, file: string): boolean {
  const spec = CLIENT_SPECS[kind];
  const value = spec.format === 'toml' ? tomlValue(body) : jsoncValue(body);
  const entry = lookup(value, spec.entryPath);
  if (!isPlainObject(entry)) return false;
  try {
    return (spec.format === 'toml' ? setTomlTable('', spec.entryPath, entry, file) : setJsonc('', spec.entryPath, entry, file)) === body;
  } catch {
    return false;
  }
}

/** Where each exai entry in `workspace`'s configs points: its port, and its workspace when written out (not `${workspaceFolder}`). */
export function exaiEntryTargets(workspace: string): { port?: number; workspace?: string }[] {
  return kindsHoldingExai(workspace).map((kind) => {
    const port = readClientEntryPort(kind, workspace);
    const ws = lookup(readClientEntry(kind, workspace), ['env', 'EXAI_WORKSPACE']);
    return { port: typeof port === 'number' ? port : undefined, workspace: typeof ws === 'string' && !ws.includes('${') ? ws : undefined };
  });
}

/** The client kinds whose config in `workspace` holds an exai entry (copied or moved along with the folder, or recorded by no one). */
export function kindsHoldingExai(workspace: string): ClientKind[] {
  return CLIENT_KINDS.filter((kind) => isPlainObject(readClientEntry(kind, workspace)));
}

/** exai's entry as the file holds it; undefined when the file or the entry is missing. */
export function readClientEntry(kind: ClientKind, workspace: string): Record<string, unknown> | undefined | 'unparsable' {
  const spec = CLIENT_SPECS[kind];
  let existing;
  try {
    existing = readConfigText(clientConfigPath(kind, workspace));
  } catch {
    return 'unparsable';
  }
  if (existing === undefined) return undefined;
  const value = spec.format === 'toml' ? tomlValue(existing.body) : jsoncValue(existing.body);
  if (value === 'unparsable') return 'unparsable';
  const entry = lookup(value, spec.entryPath);
  return typeof entry === 'object' && entry !== null && !Array.isArray(entry) ? (entry as Record<string, unknown>) : undefined;
}

/** For doctor: the EXAI_WS_PORT in exai's entry; undefined when the file, the entry or the port is missing. */
export function readClientEntryPort(kind: ClientKind, workspace: string): number | undefined | 'unparsable' {
  const entry = readClientEntry(kind, workspace);
  if (entry === 'unparsable') return entry;
  const url = lookup(entry, ['url']);
  if (typeof url === 'string') {
    // A Streamable HTTP entry: the port is in its URL (http://127.0.0.1:PORT/mcp).
    const match = /^http:\/\/127\.0\.0\.1:(\d+)\/mcp$/.exec(url);
    return match ? Number(match[1]) : undefined;
  }
  const raw = lookup(entry, ['env', 'EXAI_WS_PORT']);
  const port = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : typeof raw === 'number' ? raw : undefined;
  return port !== undefined && Number.isInteger(port) && port >= 1 && port <= 65_535 ? port : undefined;
}

/**
 * What the user must still do in each client whose config is among `files` (spawn's
 * `configFiles`) before it starts exai: one line per client, empty when nothing.
 */
export function clientHints(workspace: string, files: readonly string[]): string[] {
  return CLIENT_KINDS.filter((kind) => files.includes(clientConfigPath(kind, workspace))).flatMap((kind) => CLIENT_SPECS[kind].hint?.(workspace) ?? []);
}

/** The client's config holds exai's entry and nothing else (no other server, no other setting). */
export function holdsOnlyExai(kind: ClientKind, workspace: string): boolean {
  const existing = readConfigText(clientConfigPath(kind, workspace));
  if (existing === undefined) return false;
  const spec = CLIENT_SPECS[kind];
  let value = spec.format === 'toml' ? tomlValue(existing.body) : jsoncValue(existing.body);
  for (const key of spec.entryPath.slice(0, -1)) {
    if (typeof value !== 'object' || value === null || Object.keys(value).length !== 1) return false;
    value = (value as Record<string, unknown>)[key];
  }
  return typeof value === 'object' && value !== null && Object.keys(value).length === 1 && ENTRY_NAME in value;
}
