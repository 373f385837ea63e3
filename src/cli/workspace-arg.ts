import { readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseJsonc } from 'jsonc-parser';
import { ExaiError } from '../common/errors.js';
import { shellArg } from './format.js';

/**
 * Refuses a VS Code multi-root workspace file (`X.code-workspace`) given as `--workspace`,
 * naming its folders and the command for each. exai's unit is a folder, and a multi-root
 * window already reads every folder's own `.vscode/mcp.json` with `${workspaceFolder}` bound
 * to that folder (VS Code `mcpConfigPathsService.ts`, one config path per workspace folder),
 * whereas an entry in the file's `settings.mcp` has no folder to resolve `${workspaceFolder}`
 * against once the window has several (`variableResolver`: "can not be resolved in a multi
 * folder workspace"). Other paths pass through unchanged: the supervisor checks them.
 * @throws ExaiError USAGE for a `.code-workspace` file.
 */
export function checkWorkspaceArg(path: string, command = 'spawn'): void {
  if (!path.endsWith('.code-workspace')) return;
  const file = resolve(path);
  try {
    if (!statSync(file).isFile()) return;
  } catch {
    return; // missing: the supervisor says so in its own words
  }
  const folders = workspaceFolders(file);
  const commands = folders.map((f) => `exai ${command} --workspace ${shellArg(f)}`);
  const what = commands.length
    ? `run ${commands.map((c) => `\`${c}\``).join(' and ')}`
    : `run \`exai ${command} --workspace DIR\` for each folder it lists`;
  throw new ExaiError(
    'USAGE',
    `${path} is a VS Code multi-root workspace file, and exai works per folder: ${what} (a multi-root window reads each folder's own .vscode/mcp.json)`,
  );
}

/** The local folders a `.code-workspace` file lists (`folders[].path`, relative to the file); [] if unreadable. */
function workspaceFolders(file: string): string[] {
  try {
    const data = parseJsonc(readFileSync(file, 'utf8'), [], { allowTrailingComma: true }) as { folders?: unknown };
    if (!Array.isArray(data?.folders)) return [];
    return data.folders
      .map((f: unknown) => (f && typeof f === 'object' && 'path' in f && typeof f.path === 'string' ? resolve(dirname(file), f.path) : undefined))
      .filter((f): f is string => f !== undefined);
  } catch {
    return [];
  }
}
