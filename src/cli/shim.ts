/**
 * `exai shim`: what the editor launches. stdout carries protocol bytes only; every word for
 * humans goes to stderr (and the shim log).
 */
import { isExaiError } from '../common/errors.js';
import { runShim } from '../shim/run.js';
import { failure, parseCommand } from './output.js';

export async function run(argv: string[]): Promise<number> {
  let aborter: AbortController | undefined;
  const stop = () => aborter?.abort();
  try {
    parseCommand('shim', argv, {});
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
