import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyEdits, modify, parse } from 'jsonc-parser';

/**
 * A folder served by the extension must not also list exai in `.vscode/mcp.json` (what
 * `exai spawn` writes): VS Code would start exai twice. The extension removes that entry —
 * silently when the file is git-ignored (nobody else reads it), else after asking.
 */

export function mcpJsonPath(folder: string): string {
  return join(folder, '.vscode', 'mcp.json');
}

/** The `servers` key of exai's entry in the folder's `.vscode/mcp.json`, when it has one. */
export function exaiEntryKey(folder: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(mcpJsonPath(folder), 'utf8');
  } catch {
    return undefined;
  }
  const servers = (parse(text, [], { allowTrailingComma: true }) as { servers?: Record<string, unknown> } | undefined)?.servers;
  if (!servers || typeof servers !== 'object') return undefined;
  for (const [key, value] of Object.entries(servers)) {
    const entry = value as { args?: unknown; env?: Record<string, unknown> } | null;
    if (!entry || typeof entry !== 'object') continue;
    const isShim = Array.isArray(entry.args) && entry.args.at(-1) === 'shim' && entry.env !== undefined && 'EXAI_WS_PORT' in entry.env;
    if (isShim) return key; // by shape, not by name: the user may have renamed it
  }
  return undefined;
}

/** Takes exai's entry out; everything else in the file stays byte for byte. */
export function removeExaiEntry(folder: string, key: string): void {
  const file = mcpJsonPath(folder);
  const text = readFileSync(file, 'utf8');
  const edits = modify(text, ['servers', key], undefined, { formattingOptions: { insertSpaces: true, tabSize: 2 } });
  writeFileSync(file, applyEdits(text, edits));
}

/** `git check-ignore`: true when git ignores the file (false outside a repository or without git). */
export function isGitIgnored(folder: string, file: string): boolean {
  const res = spawnSync('git', ['check-ignore', '-q', file], { cwd: folder, windowsHide: true, timeout: 10_000 });
  return res.status === 0;
}
