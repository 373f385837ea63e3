/** Shared by the own-daemon test files (.exai/daemon.json; issue 25). */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function writeDaemon(ws: string, spec: unknown): void {
  mkdirSync(join(ws, '.exai'), { recursive: true });
  writeFileSync(join(ws, '.exai', 'daemon.json'), typeof spec === 'string' ? spec : JSON.stringify(spec, null, 2));
}

export function readJson(file: string): Record<string, any> {
  return JSON.parse(readFileSync(file, 'utf8')) as Record<string, any>;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
