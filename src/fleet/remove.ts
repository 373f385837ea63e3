import { rmSync } from 'node:fs';
import { errorMessage, isExaiError } from '../common/errors.js';
import { LOG_KEEP } from '../daemon/log-rotation.js';
import { clearIdle } from '../workspace/idle-marker.js';
import { homeLayout } from '../workspace/layout.js';
import { deleteLaunchEnv } from '../workspace/launch-env.js';
import { deleteToken } from '../workspace/token.js';
import { checkRemovable, readClientEntry, removeClientEntry } from '../supervisor/client-config.js';
import { createdBy, removeCreatedFolders } from '../supervisor/configs.js';
import type { Pm2 } from '../supervisor/pm2.js';
import { CLIENT_KINDS, type Registry, type RegistryEntry } from '../supervisor/registry.js';
import { assertOwnApp } from '../start/start.js';

/**
 * Takes everything exai made for a workspace back: the pm2 app, exai's entry in each client
 * config it wrote (nothing else in those files), the files and folders its record says exai
 * created (configs.ts; never the workspace folder), the token, and the registry entry (which
 * frees the port). A client config that cannot be parsed, or a read-only one holding exai's
 * entry, is left alone and reported, and nothing is removed.
 */
export async function removeEntry(
  home: string,
  pm2: Pm2,
  registry: Registry,
  entry: RegistryEntry,
  /** Called once the pm2 app is gone (the tests pause there to interrupt a remove midway). */
  onStep?: (step: 'app-deleted') => Promise<void>,
): Promise<{ removed: boolean; configFiles: string[]; problems: string[] }> {
  // exai's entry comes out of every client config that holds one, recorded or not (a shim
  // start records none): a leftover entry would register the workspace again at the next launch.
  const kinds = CLIENT_KINDS.filter((kind) => entry.clients.includes(kind) || readClientEntry(kind, entry.workspace) !== undefined);
  // Checked before anything is deleted: a failed remove changes nothing, so running it again works.
  const unreadable = kinds.flatMap((kind) => {
    try {
      checkRemovable(kind, entry.workspace);
      return [];
    } catch (err) {
      return [`${isExaiError(err) ? `${err.code}: ` : ''}${errorMessage(err)}; nothing of ${entry.workspace} was removed`];
    }
  });
  if (unreadable.length) return { removed: false, configFiles: [], problems: unreadable };
  const proc = await pm2.describe(entry.name);
  assertOwnApp(proc, home, entry.name);
  if (proc) await pm2.delete(entry.name);
  await onStep?.('app-deleted');
  const configFiles: string[] = [];
  const problems: string[] = [];
  for (const kind of kinds) {
    try {
      const { file, changed } = await removeClientEntry(kind, entry.workspace, createdBy(entry));
      if (changed) configFiles.push(file);
    } catch (err) {
      problems.push(errorMessage(err));
    }
  }
  removeCreatedFolders(entry);
  deleteToken(home, entry.id);
  deleteLaunchEnv(home, entry.id);
  clearIdle(home, entry.id);
  // A workspace's own daemon: its expanded launch and its private state dir (exai made both).
  rmSync(homeLayout(home).daemonLaunchFile(entry.id), { force: true });
  rmSync(homeLayout(home).stateDir(entry.id), { recursive: true, force: true });
  rmSync(homeLayout(home).leasesDir(entry.id), { recursive: true, force: true });
  const logs = [homeLayout(home).outLog(entry.name), homeLayout(home).errLog(entry.name), homeLayout(home).shimLog(entry.id)];
  const rotated = logs.flatMap((file) => Array.from({ length: LOG_KEEP }, (_, i) => `${file}.${i + 1}`));
  for (const file of [...logs, ...rotated, homeLayout(home).catalogFile(entry.id)]) rmSync(file, { force: true });
  await registry.update((data) => {
    delete data.workspaces[entry.id];
  });
  return { removed: true, configFiles, problems };
}
