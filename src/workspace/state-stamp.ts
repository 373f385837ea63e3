import { statSync } from 'node:fs';
import { homeLayout } from './layout.js';

/**
 * What a start resolved from EXAI_HOME is still true while this stamp is: the registry, the
 * workspace's launch environment and its token, each by inode, size and mtime (every writer
 * replaces them atomically, so a write shows as a new inode). A `stat`, never an open: a start
 * that waited for its lock checks it instead of reading everything again (src/start/context.ts).
 */
export function stateStamp(home: string, id: string): string {
  const layout = homeLayout(home);
  return [layout.registry, layout.envFile(id), layout.tokenFile(id)].map(fileStamp).join('|');
}

function fileStamp(file: string): string {
  try {
    const s = statSync(file, { bigint: true });
    return `${s.ino}:${s.size}:${s.mtimeNs}`;
  } catch {
    return '-';
  }
}
