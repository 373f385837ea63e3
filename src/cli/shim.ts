/**
 * `exai shim`: what the editor launches. stdout carries protocol bytes only; every word for
 * humans goes to stderr (and the shim log).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { EXIT_USAGE } from '../common/exit-codes.js';
import { ExaiError, isExaiError } from '../common/errors.js';
import { runShim } from '../shim/run.js';
import { failure, parseCommand, writeErr } from './output.js';

/** What a person who runs `exai shim` in a terminal reads instead of a silent wait for JSON-RPC. */
const IN_A_TERMINAL = [
  'exai shim: this is the stdio bridge that an MCP client (VS Code, Claude Code,',
  "Cursor, ...) launches to reach a workspace's exai daemon. It speaks JSON-RPC",
  'on stdin and stdout and is not meant to be run in a terminal.',
  '  set a workspace up:  exai spawn --workspace <dir>   (writes the client config)',
  '  see the daemons:     exai list',
  '  try it by hand:      pipe JSON-RPC into it (EXAI_WS_PORT, EXAI_WORKSPACE set)',
].join('\n');

export async function run(argv: string[], stdin: { isTTY?: boolean } = process.stdin): Promise<number> {
  let aborter: AbortController | undefined;
  const stop = () => aborter?.abort();
  // The workspace's own shim behind exai's start (.exai/daemon.json, "wake": true).
  if (argv[0] === '--exec') return (await import('./shim-exec.js')).runExec(argv);
  try {
    parseCommand('shim', argv, {});
    if (stdin.isTTY) {
      writeErr(IN_A_TERMINAL);
      return EXIT_USAGE;
    }
    ownDaemonRefusal(process.env);
    aborter = new AbortController();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    const result = await runShim({ signal: aborter.signal });
    return result.code === 0 ? 0 : failure(result.error);
  } catch (err) {
    const code = failure(err);
    // A broken environment is a usage problem of the client config: exit 2, like the daemon.
    return isExaiError(err, 'ENV_INVALID') ? 2 : code;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

/**
 * A workspace with `.exai/daemon.json` runs its own daemon, which does not speak exai's
 * WebSocket protocol: exai's shim would find it on the port and then wait forever for an answer.
 * Its clients use the entry written from the file's `"client"`.
 */
function ownDaemonRefusal(env: NodeJS.ProcessEnv): void {
  const workspace = env.EXAI_WORKSPACE?.trim() || process.cwd();
  if (!existsSync(join(workspace, '.exai', 'daemon.json'))) return;
  throw new ExaiError('USAGE', `${workspace} runs its own daemon (.exai/daemon.json), which exai's shim cannot speak to; launch the "client" entry of that file instead (\`exai spawn --workspace ${workspace}\` writes it into the client configs)`);
}
