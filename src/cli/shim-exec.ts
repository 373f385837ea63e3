/**
 * `exai shim --exec -- <command> [args…]`: put exai in front of a workspace's own stdio shim
 * (.exai/daemon.json with `"client": {…, "wake": true}`): make sure the workspace's daemon runs
 * (the shim's start: the launch spec as recorded, a busy daemon left alone), then run the
 * user's shim with stdin, stdout and stderr passed straight through, and exit as it exits.
 * exai prints nothing on stdout: it belongs to the client's protocol.
 */
import { spawn } from 'node:child_process';
import { ExaiError, errorMessage } from '../common/errors.js';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { resolveWorkspace } from '../workspace/identity.js';
import { homeLayout, resolveExaiHome } from '../workspace/layout.js';
import { failure } from './output.js';

export async function runExec(argv: string[]): Promise<number> {
  const dash = argv.indexOf('--');
  const [command, ...args] = dash < 0 ? [] : argv.slice(dash + 1);
  let lease: string | undefined;
  try {
    if (argv[0] !== '--exec' || dash !== 1 || command === undefined) {
      throw new ExaiError('USAGE', 'exai shim --exec -- <command> [args…]: name the shim to run after --');
    }
    const env = process.env;
    const workspace = env.EXAI_WORKSPACE?.trim() || process.cwd();
    const home = resolveExaiHome(env);
    // The lease first: a daemon idling out meanwhile would otherwise stop under this session.
    const { id } = resolveWorkspace(workspace);
    lease = join(homeLayout(home).leasesDir(id), String(process.pid));
    mkdirSync(dirname(lease), { recursive: true, mode: 0o700 });
    writeFileSync(lease, '');
    const { spawnWorkspace } = await import('../start/spawn.js');
    try {
      await spawnWorkspace({ workspace, home, env, keepRunning: true });
    } catch (err) {
      // A busy daemon still serves: the user's shim reaches it; anything else is said, once.
      if (!(err instanceof ExaiError && err.code === 'DAEMON_BUSY')) throw err;
    }
  } catch (err) {
    dropLease(lease);
    return failure(err);
  }
  return new Promise<number>((resolve) => {
    const child = spawn(command!, args, { stdio: 'inherit', env: process.env, windowsHide: true });
    const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
    const onInt = forward('SIGINT');
    const onTerm = forward('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    child.on('error', (err) => {
      process.stderr.write(`exai: cannot run ${JSON.stringify(command)}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}\n`);
      dropLease(lease);
      resolve(127);
    });
    child.on('exit', (code, signal) => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      dropLease(lease);
      resolve(code ?? (signal ? 128 + 15 : 1));
    });
  });
}

/** This session's lease on the workspace's daemon (it may idle out once none is left). */
function dropLease(lease: string | undefined): void {
  if (lease) rmSync(lease, { force: true });
}
