import { ExaiError } from '../common/errors.js';
import { shellArg } from '../common/shell.js';
import { fetchHealth } from '../transport/health.js';
import { resolveWorkspace } from '../workspace/identity.js';
import { resolveExaiHome } from '../workspace/layout.js';
import { readRegistry } from '../workspace/registry-file.js';
import { readToken } from '../workspace/token.js';
import { failure, parseCommand, writeOut } from './output.js';
import { checkWorkspaceArg } from './workspace-arg.js';

export const options = {
  workspace: { type: 'string', short: 'w' },
  json: { type: 'boolean' },
  show: { type: 'boolean' },
  wake: { type: 'boolean' },
} as const;

/**
 * `exai token --workspace DIR [--json] [--wake] [--show]`: the header a Streamable HTTP client
 * sends to the workspace's daemon (`Authorization: Bearer …`), for a client's headers helper
 * (Claude Code's `headersHelper` runs it and reads `--json`'s object). Only to a pipe: on a
 * terminal it refuses unless `--show`, so the token does not end up in a scrollback by accident.
 * `--wake` first starts the daemon when it does not answer (idle, stopped, pm2 gone), as the
 * shim does for a client; when it had to move to another port, the client still holds the old
 * URL, so nothing is printed (PORT_MOVED): the header would go to whoever took the port. Errors
 * are one line on stderr, never on stdout (a helper's stdout is taken as headers).
 */
export async function run(argv: string[]): Promise<number> {
  try {
    const args = parseCommand('token', argv, options);
    if (!args.workspace) throw new ExaiError('USAGE', 'exai token needs --workspace DIR');
    checkWorkspaceArg(args.workspace, 'token');
    if (process.stdout.isTTY && !args.show) {
      throw new ExaiError('USAGE', 'exai token prints a secret: it writes only to a pipe or file (a client\'s headers helper); add --show to print it on this terminal');
    }
    const home = resolveExaiHome();
    const workspace = resolveWorkspace(args.workspace);
    const entry = readRegistry(home).workspaces[workspace.id];
    const token = readToken(home, workspace.id);
    const spawn = `exai spawn --workspace ${shellArg(workspace.path)}`;
    // Never spawned, or removed: either way the fix is to register it.
    if (!entry) throw new ExaiError('WORKSPACE_NOT_REGISTERED', `${workspace.path} is not registered with exai (never spawned, or removed); register it with \`${spawn}\``);
    if (token === undefined) throw new ExaiError('TOKEN_MISSING', `${workspace.path} has no token file under EXAI_HOME; \`${spawn}\` makes one`);
    if (args.wake) {
      const health = await fetchHealth(entry.port, 1_000).catch(() => undefined);
      if (health?.id !== workspace.id) {
        // Loaded only when needed: the supervisor (pm2's client) is heavy.
        const { spawnWorkspace } = await import('../start/spawn.js');
        // Not an explicit spawn: the launch spec as recorded, and only the configs it recorded.
        const started = await spawnWorkspace({ workspace: workspace.path, home, keepRunning: true });
        // The client holds the old URL, where another process now listens: the token is for exai's daemon only.
        if (started.port !== entry.port) {
          throw new ExaiError('PORT_MOVED', `port ${entry.port} of ${workspace.path} is taken by another process, so its daemon came back on ${started.port}; the client configs now say ${started.port}: reconnect the client (Claude Code: restart it) so it reads the new URL`);
        }
      }
    }
    const value = `Bearer ${token}`;
    writeOut(args.json ? JSON.stringify({ Authorization: value }) : `Authorization: ${value}`);
    return 0;
  } catch (err) {
    return failure(err, false);
  }
}
