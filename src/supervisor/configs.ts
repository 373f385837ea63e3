/**
 * A workspace's client configs as its launch spec records them (DESIGN.md "Lifecycle"): every
 * start writes the recorded ones and records what the writing created; `remove` takes back
 * exai's entries and deletes only what that record says exai created — never the workspace
 * folder or anything above it, however empty it is left.
 */
import { existsSync } from 'node:fs';
import { clientFiles, exaiEntryTargets, writeClientConfig, type EntrySettings } from './client-config.js';
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
