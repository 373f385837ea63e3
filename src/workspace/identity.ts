import { createHash } from 'node:crypto';
import { realpathSync, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { ExaiError, errnoCode } from '../common/errors.js';
import { defaultExaiHome, homeTag } from './layout.js';

export const PM2_NAMESPACE = 'exai';

export interface Workspace {
  /** Canonical path: realpath, no trailing separator. Used for everything on disk. */
  readonly path: string;
  /** First 8 hex chars of sha256 of the comparison key. */
  readonly id: string;
  readonly slug: string;
  /** pm2 app name under the default EXAI_HOME: exai-<slug>-<id> (`appName` gives it for any home). */
  readonly name: string;
}

/** Filesystems on Windows and macOS fold case by default: one folder, one id. */
const foldsCase = process.platform === 'win32' || process.platform === 'darwin';

/** What the id hashes: one separator style, case-folded where the OS folds case. */
export function comparisonKey(canonicalPath: string): string {
  const oneStyle = canonicalPath.replace(/\\/g, '/');
  return foldsCase ? oneStyle.toLowerCase() : oneStyle;
}

export function workspaceId(canonicalPath: string): string {
  return createHash('sha256').update(comparisonKey(canonicalPath)).digest('hex').slice(0, 8);
}

export function workspaceSlug(canonicalPath: string): string {
  const slug = basename(canonicalPath)
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '')
    .slice(0, 24)
    .replace(/-$/, '');
  return slug === '' ? 'ws' : slug;
}

export function workspaceFromCanonical(canonicalPath: string): Workspace {
  const id = workspaceId(canonicalPath);
  const slug = workspaceSlug(canonicalPath);
  return { path: canonicalPath, id, slug, name: `exai-${slug}-${id}` };
}

/**
 * The pm2 app name of a workspace under the state dir `home`: `exai-<slug>-<id>` (DESIGN.md
 * "Workspace identity") under the default EXAI_HOME, `exai-<slug>-<id>-<tag>` under any
 * other. Two EXAI_HOMEs may share one pm2 (on Windows they always do, WINDOWS.md #2): the
 * same folder registered in both must never give two homes one app to delete or adopt.
 */
export function appName(workspace: Workspace, home: string, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(home) === defaultExaiHome(env) ? workspace.name : `${workspace.name}-${homeTag(home)}`;
}

/**
 * Resolves a user-given directory (relative, `..`, symlinks, trailing separators) to its
 * identity. Refuses anything that is not an existing directory.
 */
export function resolveWorkspace(dir: string, cwd: string = process.cwd()): Workspace {
  const absolute = resolve(cwd, dir);
  let canonical: string;
  try {
    canonical = realpathSync.native(absolute);
  } catch (err) {
    throw new ExaiError(
      'WORKSPACE_NOT_FOUND',
      `workspace ${JSON.stringify(absolute)} does not exist (${errnoCode(err) ?? 'unreadable'}); pass an existing directory with --workspace`,
      { cause: err },
    );
  }
  if (!statSync(canonical).isDirectory()) {
    throw new ExaiError(
      'WORKSPACE_NOT_FOUND',
      `workspace ${JSON.stringify(absolute)} is not a directory; pass the workspace folder with --workspace`,
    );
  }
  return workspaceFromCanonical(canonical);
}
