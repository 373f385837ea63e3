import { dirname, join } from 'node:path';
import { ENTRY_NAME } from './catalog.js';
import { isReadOnly, readConfigText, readOnlyError, writeConfigText, writeOrDeleteConfig, type ConfigText } from './io.js';
import { addToJsoncArray, checkJsonc, jsoncValue, removeFromJsoncArray } from './jsonc.js';

/**
 * Claude Code starts a project server from `.mcp.json` only once it is approved for that
 * workspace: `enabledMcpjsonServers` ("List of approved MCP servers from .mcp.json", Claude
 * Code's settings schema). exai writes it in `.claude/settings.local.json`, the user's own
 * settings for the folder, not in the shared `.claude/settings.json`: approving is this user's
 * choice, made by asking for `--client claude`.
 */
const KEY = ['enabledMcpjsonServers'];

export function claudeApprovalPath(workspace: string): string {
  return join(workspace, '.claude', 'settings.local.json');
}

/** Throws what approveExai would (unparsable, or read-only when it needs a change), without writing. */
export function checkClaudeApproval(workspace: string): void {
  const file = claudeApprovalPath(workspace);
  const existing = readConfigText(file);
  if (existing === undefined) return;
  checkJsonc(existing.body, file);
  if (isReadOnly(existing) && approvedText(existing, file) !== existing.body) throw readOnlyError(file, existing);
}

/** The settings text with exai approved (the same string when it already is, or every project server is). */
function approvedText(existing: ConfigText | undefined, file: string): string {
  const body = existing?.body ?? '';
  const value = body.trim() === '' ? {} : jsoncValue(body);
  if (typeof value === 'object' && value !== null && (value as Record<string, unknown>).enableAllProjectMcpServers === true) return body;
  return addToJsoncArray(body, KEY, ENTRY_NAME, file);
}

/**
 * Adds "exai" to `enabledMcpjsonServers`, keeping every other byte of the file; nothing to do
 * when it is there or when `enableAllProjectMcpServers` already approves every project server.
 */
export function approveExai(workspace: string): { file: string; changed: boolean } {
  const file = claudeApprovalPath(workspace);
  const existing = readConfigText(file);
  const next = approvedText(existing, file);
  if (existing !== undefined && next === existing.body) return { file, changed: false };
  writeConfigText(file, next, existing);
  return { file, changed: true };
}

/**
 * Takes "exai" (only that) out of `enabledMcpjsonServers`; a missing file or entry changes
 * nothing. The file goes when exai created it (`created`: its record; undefined, for an entry
 * of an older exai: when it holds exactly what exai writes into a new file).
 */
export function revokeExai(workspace: string, created: ((file: string) => boolean) | undefined): { file: string; changed: boolean } {
  const file = claudeApprovalPath(workspace);
  const existing = readConfigText(file);
  if (existing === undefined) return { file, changed: false };
  const next = removeFromJsoncArray(existing.body, KEY, ENTRY_NAME, file);
  if (next === existing.body) return { file, changed: false };
  const ours = created ? created(file) : existing.body === addToJsoncArray('', KEY, ENTRY_NAME, file);
  writeOrDeleteConfig(file, next, existing, { root: workspace, file: ours, folder: created ? created(dirname(file)) : true });
  return { file, changed: true };
}
