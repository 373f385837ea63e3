#!/usr/bin/env node
/**
 * The exai bin: a thin dispatcher. Each command lives in its own module and is loaded only
 * when asked for, so `exai shim` and `exai daemon` start without the supervisor's weight.
 */
import { failure, writeErr } from './output.js';

type Command = { run(argv: string[]): Promise<number> };

const commands: Record<string, () => Promise<Command>> = {
  spawn: () => import('./spawn.js'),
  list: () => import('./list.js'),
  ls: () => import('./list.js'),
  stop: () => import('./stop.js'),
  restart: () => import('./restart.js'),
  remove: () => import('./remove.js'),
  logs: () => import('./logs.js'),
  doctor: () => import('./doctor.js'),
  daemon: () => import('./daemon.js'),
  shim: () => import('./shim.js'),
};

const USAGE = `usage: exai <command> [options]

commands:
  spawn --workspace DIR [--port N] [--client vscode|claude|cursor] [--no-config] [--restart] [--json]
  list | ls [--json]
  stop|restart|remove --workspace DIR | --all [--json]
  logs --workspace DIR [--lines N] [--follow]
  doctor [--fix] [--yes] [--json]
  daemon        (run by pm2: one workspace's MCP daemon)
  shim          (run by the editor: stdio <-> the workspace's daemon)
`;

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(USAGE);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') {
    const { EXAI_VERSION } = await import('../common/version.js');
    process.stdout.write(`${EXAI_VERSION}\n`);
    return 0;
  }
  const load = commands[name];
  if (load && (rest.includes('--help') || rest.includes('-h'))) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (!load) {
    writeErr(`exai: unknown command ${JSON.stringify(name)}; run \`exai --help\` for the list of commands`);
    return 2;
  }
  const command = await load();
  return command.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => exitAfterFlush(code),
  (err: unknown) => exitAfterFlush(failure(err)),
);

/**
 * The pm2 client (and anything else a command leaves open) keeps the event loop alive; the
 * CLI is done when its command is, so exit explicitly once stdout and stderr are flushed.
 */
function exitAfterFlush(code: number): void {
  let pending = 2;
  const done = () => {
    if (--pending === 0) process.exit(code);
  };
  process.stdout.write('', done);
  process.stderr.write('', done);
}
