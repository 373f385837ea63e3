import { existsSync } from 'node:fs';
import { posix, resolve, win32 } from 'node:path';
import { ExaiError, isExaiError } from '../common/errors.js';
import { shellArg } from '../common/shell.js';
import { comparisonKey, resolveWorkspace, workspaceFromCanonical } from '../workspace/identity.js';
import type { Registry, RegistryEntry } from '../supervisor/registry.js';

/**
 * `--workspace DIR` or `--all` to registry entries. A deleted workspace folder can still be
 * named (to stop or remove its daemon): then the entry is found by its recorded path, compared
 * as the OS compares paths (on Windows: any case, either separator; WINDOWS.md #28). `platform`
 * defaults to the running one; tests pass 'win32'.
 */
export function selectEntries(registry: Registry, target: { workspace?: string; all?: boolean }, platform: NodeJS.Platform = process.platform): RegistryEntry[] {
  const data = registry.read();
  if (target.all) return Object.values(data.workspaces);
  if (!target.workspace) throw new ExaiError('USAGE', 'name the workspace with --workspace DIR, or use --all');
  let id: string;
  try {
    id = resolveWorkspace(target.workspace).id;
  } catch (err) {
    if (!isExaiError(err, 'WORKSPACE_NOT_FOUND')) throw err;
    const path = (platform === 'win32' ? win32 : posix).resolve(target.workspace);
    const key = comparisonKey(path, platform);
    const gone = Object.values(data.workspaces).find((e) => comparisonKey(e.workspace, platform) === key);
    if (gone) return [gone];
    id = workspaceFromCanonical(path, platform).id;
  }
  const entry = data.workspaces[id];
  if (!entry && !existsSync(resolve(target.workspace))) {
    throw new ExaiError(
      'WORKSPACE_NOT_REGISTERED',
      `${target.workspace} is neither a folder nor a registered workspace; check the path (\`exai list\` shows the registered ones)`,
    );
  }
  if (!entry) {
    throw new ExaiError(
      'WORKSPACE_NOT_REGISTERED',
      `${target.workspace} has no exai daemon; run \`exai spawn --workspace ${shellArg(target.workspace)}\` first (\`exai list\` shows the known ones)`,
    );
  }
  return [entry];
}
