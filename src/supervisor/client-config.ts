import { join } from 'node:path';
import { CLI_ENTRY, nodeExecutable } from '../common/install.js';
import { stateDirsEnv, type StateDirs } from '../workspace/layout.js';
import { CLIENT_SPECS, ENTRY_NAME } from './clients/catalog.js';
import { approveExai, checkClaudeApproval, revokeExai } from './clients/claude-approval.js';
import { readConfigText, writeConfigText, writeOrDeleteConfig, lookup } from './clients/io.js';
import { checkJsonc, deleteJsonc, jsoncValue, setJsonc } from './clients/jsonc.js';
import { checkToml, deleteToml, setTomlTable, tomlValue } from './clients/toml.js';
import { DEFAULT_PORT_BASE, DEFAULT_PORT_STRIDE, type PortSettings } from './ports.js';
import { CLIENT_KINDS, type ClientKind } from './registry.js';

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

/** Where the shim's state lives and, when the shim has to move a workspace, which ports it may take. */
export interface EntrySettings extends StateDirs {
  /** EXAI_PORT_BASE/EXAI_PORT_STRIDE of the command writing the entry; absent = the defaults. */
  ports?: PortSettings;
}

export function clientConfigPath(kind: ClientKind, workspace: string): string {
  return join(workspace, ...CLIENT_SPECS[kind].file);
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
  return {
    ...(spec.typed ? { type: 'stdio' as const } : {}),
    command: nodeExecutable(),
    args: [CLI_ENTRY, 'shim'],
    env: {
      EXAI_WS_PORT: String(port),
      EXAI_WORKSPACE: spec.expandsWorkspaceFolder ? '${workspaceFolder}' : workspace,
      ...stateDirsEnv(dirs),
      EXAI_PORT_BASE: dirs.ports && dirs.ports.base !== DEFAULT_PORT_BASE ? String(dirs.ports.base) : undefined,
      EXAI_PORT_STRIDE: dirs.ports && dirs.ports.stride !== DEFAULT_PORT_STRIDE ? String(dirs.ports.stride) : undefined,
    },
  };
}

/**
 * Puts exai's entry into the client's config, creating the folder and file when absent; for
 * Claude Code also approves it (clients/claude-approval.ts). Everything outside the entry is
 * kept byte for byte. Throws CONFIG_UNPARSABLE (file left untouched) or CONFIG_WRITE_FAILED.
 */
export async function writeClientConfig(kind: ClientKind, workspace: string, port: number, dirs: EntrySettings): Promise<{ file: string; changed: boolean }> {
  const spec = CLIENT_SPECS[kind];
  const file = clientConfigPath(kind, workspace);
  const existing = readConfigText(file);
  const body = existing?.body ?? '';
  // Members whose value is undefined are taken out of the file (EXAI_HOME back at its default).
  const entry = clientEntry(kind, port, workspace, dirs) as unknown as Record<string, unknown>;
  const next = spec.format === 'toml' ? setTomlTable(body, spec.entryPath, entry, file) : setJsonc(body, spec.entryPath, entry, file);
  const changed = existing === undefined || next !== body;
  if (changed) writeConfigText(file, next, existing);
  if (kind === 'claude') approveExai(workspace);
  return { file, changed };
}

/**
 * Throws what writeClientConfig would for an unparsable file, or one whose servers member or
 * exai entry has the wrong shape (`"servers": []`), without writing: spawn checks every config
 * it will touch before it starts anything, so a bad file costs nothing.
 */
export function checkClientConfig(kind: ClientKind, workspace: string): void {
  const file = clientConfigPath(kind, workspace);
  const existing = readConfigText(file);
  if (existing !== undefined) {
    if (CLIENT_SPECS[kind].format === 'toml') checkToml(existing.body, file, CLIENT_SPECS[kind].entryPath);
    else checkJsonc(existing.body, file, CLIENT_SPECS[kind].entryPath);
  }
  if (kind === 'claude') checkClaudeApproval(workspace);
}

/** Takes exai's entry (only that) out of the client's config, and Claude Code's approval of it; a missing file or entry changes nothing. */
export async function removeClientEntry(kind: ClientKind, workspace: string): Promise<{ file: string; changed: boolean }> {
  const spec = CLIENT_SPECS[kind];
  const file = clientConfigPath(kind, workspace);
  if (kind === 'claude') revokeExai(workspace);
  const existing = readConfigText(file);
  if (existing === undefined) return { file, changed: false };
  const next = spec.format === 'toml' ? deleteToml(existing.body, spec.entryPath, file) : deleteJsonc(existing.body, spec.entryPath, file);
  if (next === existing.body) return { file, changed: false };
  writeOrDeleteConfig(file, next, existing);
  return { file, changed: true };
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
