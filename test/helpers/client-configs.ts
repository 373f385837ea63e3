import { mkdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { defaultExaiHome, type StateDirs } from '../../src/workspace/layout.js';
import { ROOT } from './env.js';

/** The CLI path exai's entries name. */
export const CLI_ENTRY = join(ROOT, 'dist', 'cli', 'main.js');

/** The state dirs a client with a bare environment would find by itself: nothing to write. */
export const DEFAULT_DIRS: StateDirs = { home: defaultExaiHome({}), pm2Home: join(homedir(), '.pm2') };

/** Writes `text` at `rel` below the workspace (folders created), as a user's hand-written config. */
export function configFile(ws: string, rel: string, text: string): string {
  const file = join(ws, rel);
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, text);
  return file;
}
