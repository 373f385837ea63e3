import { EXIT_SIGINT, EXIT_SIGTERM } from '../common/exit-codes.js';
import { parseDuration } from '../common/duration.js';
import { ExaiError, isExaiError } from '../common/errors.js';
import { resolveExaiHome } from '../workspace/layout.js';
import { clientEntry, clientHints, configSettings } from '../supervisor/client-config.js';
import { loadDaemonFile } from '../workspace/daemon-file.js';
import { parsePassEnvNames } from '../workspace/launch-env.js';
import { CLIENT_KINDS, type ClientKind } from '../workspace/registry-file.js';
import { spawnWorkspace } from '../start/spawn.js';
import type { SpawnStep } from '../supervisor/configs.js';
import { failure, parseCommand, parsePortOption, writeErr, writeFleetEvent, writeJson, writeOut } from './output.js';
import { testPause, watchInterrupts } from './interrupts.js';
import { serverVariables, unsetVariablesWarning } from '../fleet/upstream-report.js';
import { shellArg } from './format.js';
import { checkWorkspaceArg } from './workspace-arg.js';

export const options = {
  workspace: { type: 'string', short: 'w' },
  port: { type: 'string' },
  client: { type: 'string', multiple: true },
  transport: { type: 'string' },
  'no-config': { type: 'boolean' },
  restart: { type: 'boolean' },
  'idle-timeout': { type: 'string' },
  'pass-env': { type: 'string', multiple: true },
  'drop-env': { type: 'string', multiple: true },
  json: { type: 'boolean' },
} as const;


export async function run(argv: string[]): Promise<number> {
  let json = argv.includes('--json');
  const interrupts = watchInterrupts('spawn');
  try {
    const args = parseCommand('spawn', argv, options);
    json = args.json ?? false;
    if (!args.workspace) throw new ExaiError('USAGE', 'exai spawn needs --workspace DIR (the folder the editor opens)');
    checkWorkspaceArg(args.workspace, 'spawn');
    const clients = (args.client ?? []).map((c) => {
      if (!(CLIENT_KINDS as readonly string[]).includes(c)) {
        throw new ExaiError('USAGE', `--client ${JSON.stringify(c)} is not known; use one of ${CLIENT_KINDS.join(', ')}`);
      }
      return c as ClientKind;
    });
    const transport = args.transport;
    if (transport !== undefined && transport !== 'stdio' && transport !== 'http') {
      throw new ExaiError('USAGE', `--transport ${JSON.stringify(transport)} is not known; use stdio or http`);
    }
    if (transport !== undefined && !clients.includes('claude')) {
      throw new ExaiError('USAGE', '--transport applies to Claude Code\'s entry: give it with --client claude (other clients use the stdio shim)');
    }
    if (args['no-config'] && clients.length) throw new ExaiError('USAGE', '--no-config and --client contradict each other; give one of them');
    const passEnv = parsePassEnvNames([process.env.EXAI_PASS_ENV ?? '', ...(args['pass-env'] ?? [])]);
    const dropEnv = parsePassEnvNames(args['drop-env'] ?? []);
    const both = passEnv.filter((name) => dropEnv.includes(name));
    if (both.length) throw new ExaiError('USAGE', `${both.join(', ')} is both passed and dropped; give it to --pass-env or to --drop-env, not both (EXAI_PASS_ENV counts as --pass-env)`);
    const idleTimeoutMs = args['idle-timeout'] === undefined ? undefined : parseDuration(args['idle-timeout'], '--idle-timeout');
    const home = resolveExaiHome();
    const result = await spawnWorkspace({
      workspace: args.workspace,
      home,
      port: parsePortOption(args.port),
      clients,
      transport,
      writeConfig: !args['no-config'],
      restart: args.restart ?? false,
      explicit: { passEnv, dropEnv, idleTimeoutMs, defaultClients: args['no-config'] ? [] : ['vscode'] },
      onProgress: json ? undefined : (m) => writeErr(m),
      onWarning: (m) => writeErr(`exai: warning: ${m}`),
      interrupted: () => interrupts.signal() !== undefined,
      onStep: testPause(interrupts.arrived),
      onFleet: writeFleetEvent,
    });
    // The servers get an empty string for a variable the daemon was not given: say so now,
    // not only in doctor (issue 19 item 6).
    const unset = serverVariables(home, result.id, result.workspace).unset;
    if (unset.length) writeErr(`exai: warning: ${unsetVariablesWarning(result.workspace, unset, shellArg)}`);
    if (json) {
      // A workspace's own daemon: the entry VS Code launches for it (the extension hands it over
      // with --no-config, so nothing else writes it), expanded as .vscode/mcp.json's would be.
      const own = loadDaemonFile(result.workspace);
      const entry = own ? { clientEntry: clientEntry('vscode', result.port, result.workspace, configSettings(home, process.env, result.id, own)) } : {};
      writeJson({ ...result, ...entry, ...(unset.length ? { unsetVariables: unset } : {}) });
    } else {
      const how = result.reused ? 'reused' : result.movedFrom !== undefined ? `started (moved from ${result.movedFrom})` : 'started';
      writeOut(
        [
          `workspace  ${result.workspace}`,
          `port       ${result.port}`,
          `pm2        ${result.name} (${result.status}, pid ${result.pid}, ${how})`,
          `configs    ${result.configFiles.length ? result.configFiles.join('\n           ') : '(none written)'}`,
        ].join('\n'),
      );
      // A hint's later lines are text to paste (Codex's TOML); indented, they still paste as is.
      for (const hint of clientHints(result.workspace, result.configFiles)) writeOut(`todo       ${hint.split('\n').join('\n             ')}`);
    }
    const signal = interrupts.signal();
    if (signal) {
      const configs = result.configFiles.length ? `, ${result.configFiles.length} client config(s) written` : '';
      writeErr(`exai: ${signal} received; the spawn was finished first: ${result.workspace} runs on port ${result.port}${configs}`);
    }
    return 0;
  } catch (err) {
    const signal = interrupts.signal();
    if (signal && isExaiError(err, 'INTERRUPTED')) {
      if (json) writeJson({ error: { code: err.code, message: err.message } });
      writeErr(`exai: ${signal} received; ${err.message}`);
      return signal === 'SIGTERM' ? EXIT_SIGTERM : EXIT_SIGINT;
    }
    return failure(err, json);
  } finally {
    interrupts.dispose();
  }
}
