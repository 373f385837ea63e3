/**
 * A workspace's client configs as its launch spec records them (DESIGN.md "Lifecycle"): every
 * start writes the recorded ones and records what the writing created; `remove` takes back
 * exai's entries and deletes only what that record says exai created — never the workspace
 * folder or anything above it, however empty it is left.
 */
import { existsSync } from 'node:fs';
import { isExaiError } from '../common/errors.js';
import type { DaemonFile } from '../workspace/daemon-file.js';
import type { Workspace } from '../workspace/identity.js';
import { checkClientConfig, clientFiles, configSettings, exaiEntryTargets, writeClientConfig, type EntrySettings } from './client-config.js';
import type { LaunchPlan, SpawnOptions } from '../start/launch-plan.js';
import { fromRecorded, missingPaths, recordedPath, removeEmptyFolder } from './clients/io.js';
import type { ClientKind, Registry, RegistryData, RegistryEntry } from './registry.js';

/** The steps of a start a test may pause at (EXAI_TEST_PAUSE_AT, src/cli/spawn.ts). */
export type SpawnStep = 'registry' | 'started' | 'configs';

export interface ConfigWrite {
  registry: Registry;
  workspace: string;
  id: string;
  kinds: readonly ClientKind[];
  port: number;
  dirs: EntrySettings;
  onStep?: (step: SpawnStep) => Promise<void>;
  /**
   * The entry as the caller just read or wrote it: when it records every kind already and the
   * writing created nothing, the registry is neither read nor written again (a wake's start).
   */
  entry?: RegistryEntry;
}

/**
 * Writes each config of `kinds` that is missing or differs (a port, a path), then records the
 * kinds and every file and folder the writing created in the registry entry (an entry of an
 * older exai, which has no such record, gets none: its `remove` keeps trusting only bytes).
 * Returns the config files.
 */
export async function writeRecordedConfigs(w: ConfigWrite): Promise<string[]> {
  const files: string[] = [];
  const created: string[] = [];
  for (const kind of w.kinds) {
    const absent = clientFiles(kind, w.workspace).flatMap((file) => missingPaths(w.workspace, file));
    try {
      files.push((await writeClientConfig(kind, w.workspace, w.port, w.dirs)).file);
    } finally {
      for (const path of absent) if (existsSync(path)) created.push(recordedPath(w.workspace, path));
    }
  }
  await w.onStep?.('configs');
  if (w.entry && !created.length && w.kinds.every((kind) => w.entry!.clients.includes(kind))) return files;
  await w.registry.update((data) => {
    const e = data.workspaces[w.id];
    if (!e) return;
    const clients = [...new Set([...e.clients, ...w.kinds])];
    const made = e.created === undefined ? undefined : [...new Set([...e.created, ...created])];
    if (clients.length !== e.clients.length || (made && made.length !== e.created!.length)) {
      e.clients = clients;
      if (made) e.created = made;
      e.updatedAt = new Date().toISOString();
    }
  });
  return files;
}

/**
 * How `remove` tells what exai created: from the entry's record, or — for an entry an older
 * exai wrote — undefined, which leaves the judgement to the file's bytes (client-config.ts).
 */
export function createdBy(entry: RegistryEntry): ((path: string) => boolean) | undefined {
  const record = entry.created;
  if (record === undefined) return undefined;
  return (path) => record.includes(recordedPath(entry.workspace, path));
}

/** Removes the folders the record holds that are empty now, deepest first; never the workspace itself. */
export function removeCreatedFolders(entry: RegistryEntry): void {
  const depth = (p: string) => p.split('/').length;
  for (const rel of [...(entry.created ?? [])].sort((a, b) => depth(b) - depth(a))) removeEmptyFolder(entry.workspace, fromRecorded(entry.workspace, rel));
}

/**
 * The registered workspace, other than `id`, whose folder is gone and whose port or path the exai
 * entries in `workspace`'s configs name: the folder was moved or renamed from there.
 */
export function movedFromEntry(workspace: string, id: string, data: RegistryData): RegistryEntry | undefined {
  const targets = exaiEntryTargets(workspace);
  if (!targets.length) return undefined;
  return Object.values(data.workspaces).find((e) => e.id !== id && !existsSync(e.workspace) && targets.some((t) => t.port === e.port || t.workspace === e.workspace));
}

/**
 * The kinds of `plan` whose configs can be written, after the checks an edit would make. A first
 * `exai spawn` changes nothing on bad input (README "Bad input loses nothing"): it throws. A
 * registered workspace, or a start on someone's behalf (a shim, the fleet brought back,
 * restart, doctor --fix), still gets its daemon: one broken config must not cut off the
 * workspace's other clients. An unparsable config is skipped (left as it is) and returned.
 */
export function usableConfigs(
  opts: SpawnOptions,
  entry: RegistryEntry | undefined,
  workspace: Workspace,
  plan: LaunchPlan,
  own: DaemonFile | undefined,
): { writeKinds: LaunchPlan['writeKinds']; skippedConfigs: string[] } {
  const port = opts.port ?? entry?.port;
  const wanted = port === undefined ? undefined : { port, dirs: configSettings(opts.home, opts.env, workspace.id, own) };
  const skippedConfigs: string[] = [];
  const writeKinds = plan.writeKinds.filter((kind) => {
    try {
      checkClientConfig(kind, workspace.path, wanted);
      return true;
    } catch (err) {
      if (!isExaiError(err, 'CONFIG_UNPARSABLE') || (entry === undefined && opts.explicit)) throw err;
      skippedConfigs.push(err.message);
      return false;
    }
  });
  return { writeKinds, skippedConfigs };
}

/** One warning line per config a start left unwritten. */
export function warnSkipped(opts: SpawnOptions, skipped: readonly string[]): void {
  for (const message of skipped) opts.onWarning?.(`client config skipped, the daemon runs without it: ${message}`);
}
