import { join } from 'node:path';
import { ENTRY_NAME } from './catalog.js';
import { readConfigText, writeConfigText, writeOrDeleteConfig } from './io.js';
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

/** Throws what approveExai would for an unparsable settings file, without writing. */
export function checkClaudeApproval(workspace: string): void {
  const existing = readConfigText(claudeApprovalPath(workspace));
  if (existing !== undefined) checkJsonc(existing.body, claudeApprovalPath(workspace));
}

/**
 * Adds "exai" to `enabledMcpjsonServers`, keeping every other byte of the file; nothing to do
 * when it is there or when `enableAllProjectMcpServers` already approves every project server.
 */
export function approveExai(workspace: string): { file: string; changed: boolean } {
  const file = claudeApprovalPath(workspace);
  const existing = readConfigText(file);
  const body = existing?.body ?? '';
  const value = body.trim() === '' ? {} : jsoncValue(body);
  if (typeof value === 'object' && value !== null && (value as Record<string, unknown>).enableAllProjectMcpServers === true) return { file, changed: false };
  const next = addToJsoncArray(body, KEY, ENTRY_NAME, file);
  if (next === body && existing !== undefined) return { file, changed: false };
  writeConfigText(file, next, existing);
  return { file, changed: true };
}

/** Takes "exai" (only that) out of `enabledMcpjsonServers`; a missing file or entry changes nothing. */
export function revokeExai(workspace: string): { file: string; changed: boolean } {
  const file = claudeApprovalPath(workspace);
  const existing = readConfigText(file);
  if (existing === undefined) return { file, changed: false };
  const next = removeFromJsoncArray(existing.body, KEY, ENTRY_NAME, file);
  if (next === existing.body) return { file, changed: false };
  writeOrDeleteConfig(file, next, existing);
  return { file, changed: true };
}
