import { createHash } from 'node:crypto';
import { realpathSync, statSync } from 'node:fs';
import { posix, resolve, win32 } from 'node:path';
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
function foldsCase(platform: NodeJS.Platform): boolean {
  return platform === 'win32' || platform === 'darwin';
}

/**
 * What the id hashes, and how two spellings of one path are compared: one separator style,
 * case-folded where the OS folds case (DESIGN.md "Workspace identity"). `platform` defaults
 * to the running one; tests pass 'win32'.
 */
export function comparisonKey(canonicalPath: string, platform: NodeJS.Platform = process.platform): string {
  const oneStyle = canonicalPath.replace(/\\/g, '/');
  return foldsCase(platform) ? oneStyle.toLowerCase() : oneStyle;
}

export function workspaceId(canonicalPath: string, platform: NodeJS.Platform = process.platform): string {
  return createHash('sha256').update(comparisonKey(canonicalPath, platform)).digest('hex').slice(0, 8);
}

export function workspaceSlug(canonicalPath: string, platform: NodeJS.Platform = process.platform): string {
  const slug = (platform === 'win32' ? win32 : posix)
    .basename(canonicalPath)
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '')
    .slice(0, 24)
    .replace(/-$/, '');
  return slug === '' ? 'ws' : slug;
}

export function workspaceFromCanonical(canonicalPath: string, platform: NodeJS.Platform = process.platform): Workspace {
  const id = workspaceId(canonicalPath, platform);
  const slug = workspaceSlug(canonicalPath, platform);
  return { path: canonicalPath, id, slug, name: `exai-${slug}-${id}` };
}

/** The realpath implementations, injectable so the Windows fallbacks run in tests on Linux. */
export interface RealpathIo {
  /** The OS's own (GetFinalPathNameByHandle on Windows); default realpathSync.native. */
  native?: (path: string) => string;
  /** Node's JS walk of the path, link by link; default realpathSync. */
  js?: (path: string) => string;
}

/** Errors that mean the path names nothing (or a non-directory on the way): no fallback helps. */
function isMissing(err: unknown): boolean {
  const code = errnoCode(err);
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/**
 * The canonical spelling of an absolute path: the OS's realpath; when that fails for another
 * reason than "missing" (EISDIR on ImDisk RAM disks and some virtual or cloud drives:
 * nodejs/node#6861, vitejs/vite PR #13655), Node's JS realpath; when that fails too, the
 * resolved path itself (WINDOWS.md #4). Throws the "missing" error as it came.
 */
function canonicalize(absolute: string, io: RealpathIo): string {
  try {
    return (io.native ?? realpathSync.native)(absolute);
  } catch (err) {
    if (isMissing(err)) throw err;
  }
  try {
    return (io.js ?? realpathSync)(absolute);
  } catch (err) {
    if (isMissing(err)) throw err;
  }
  return absolute;
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
 * identity. Refuses anything that is not an existing directory (WORKSPACE_NOT_FOUND).
 */
export function resolveWorkspace(dir: string, cwd: string = process.cwd(), io: RealpathIo = {}): Workspace {
  const absolute = resolve(cwd, dir);
  let canonical: string;
  let isDirectory: boolean;
  try {
    canonical = canonicalize(absolute, io);
    isDirectory = statSync(canonical).isDirectory();
  } catch (err) {
    throw new ExaiError(
      'WORKSPACE_NOT_FOUND',
      `workspace ${JSON.stringify(absolute)} does not exist (${errnoCode(err) ?? 'unreadable'}); pass an existing directory with --workspace`,
      { cause: err },
    );
  }
  if (!isDirectory) {
    throw new ExaiError(
      'WORKSPACE_NOT_FOUND',
      `workspace ${JSON.stringify(absolute)} is not a directory; pass the workspace folder with --workspace`,
    );
  }
  return workspaceFromCanonical(canonical);
}
