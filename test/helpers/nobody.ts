/**
 * Running exai as an unprivileged user (`nobody`, uid 65534) from tests that run as root: the
 * only way on Linux to see what a normal user gets (EACCES on ports below 1024). `nobody` must
 * be able to read the checkout's dist/ and node_modules/, which it cannot when the clone sits
 * under a 0700 directory (/root/...): then a hard-linked (else copied) tree of what the child
 * needs, under a world-readable temp directory, stands in for the checkout.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './env.js';

export const NOBODY = 65534;
export const SETPRIV = '/usr/bin/setpriv';

/** Root with setpriv: the tests that drop to `nobody` can run. */
export const CAN_DROP_TO_NOBODY = process.getuid?.() === 0 && existsSync(SETPRIV);

/** argv that runs `command args…` as nobody (no supplementary groups). */
export function asNobody(command: string, args: string[]): [string, string[]] {
  return [SETPRIV, [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--', command, ...args]];
}

function nobodyCanRead(root: string): boolean {
  const probe = `require('fs').accessSync(${JSON.stringify(join(root, 'dist', 'cli', 'main.js'))}); require('fs').accessSync(${JSON.stringify(join(root, 'node_modules', 'pm2', 'package.json'))})`;
  const [cmd, args] = asNobody(process.execPath, ['-e', probe]);
  return spawnSync(cmd, args, { stdio: 'ignore', timeout: 30_000 }).status === 0;
}

/**
 * A checkout root `nobody` can read: ROOT itself when it can, else a temp tree holding
 * dist/, node_modules/ and package.json (hard links when the temp dir shares ROOT's file
 * system, a copy otherwise). `release()` removes the temp tree.
 */
export function rootForNobody(): { root: string; release(): void } {
  if (nobodyCanRead(ROOT)) return { root: ROOT, release: () => undefined };
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'exai-nobody-root-')));
  chmodSync(dir, 0o755);
  const parts = ['dist', 'node_modules', 'package.json'].map((p) => join(ROOT, p));
  const linked = spawnSync('cp', ['-al', ...parts, dir], { stdio: 'ignore' }).status === 0;
  if (!linked) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir);
    chmodSync(dir, 0o755);
    const copied = spawnSync('cp', ['-a', ...parts, dir], { stdio: 'ignore' });
    if (copied.status !== 0) throw new Error(`could not copy ${ROOT}'s dist and node_modules to ${dir} for user nobody`);
  }
  if (!nobodyCanRead(dir)) throw new Error(`user nobody cannot read ${dir} either (file modes under ${ROOT}?)`);
  return { root: dir, release: () => rmSync(dir, { recursive: true, force: true }) };
}

