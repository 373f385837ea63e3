#!/usr/bin/env node
/**
 * The exai bin: a thin dispatcher. Each command lives in its own module and is loaded only
 * when asked for, so `exai shim` and `exai daemon` start without the supervisor's weight.
 */
import { EXIT_USAGE } from '../common/exit-codes.js';
import { createRequire } from 'node:module';
import { exitAfterFlush, failure, writeErr } from './output.js';

type Command = { run(argv: string[]): Promise<number> };

const commands: Record<string, () => Promise<Command>> = {
  spawn: () => bundled('spawn-command.cjs', () => import('./spawn.js')),
  list: () => bundled('list-command.cjs', () => import('./list.js')),
  ls: () => bundled('list-command.cjs', () => import('./list.js')),
  stop: () => import('./stop.js'),
  restart: () => import('./restart.js'),
  remove: () => import('./remove.js'),
  logs: () => import('./logs.js'),
  token: () => import('./token.js'),
  doctor: () => import('./doctor.js'),
  daemon: () => import('./daemon.js'),
  shim: () => bundled('shim.cjs', () => import('./shim.js')),
  pm2: () => import('./pm2.js'),
};

const require = createRequire(import.meta.url);

/**
 * A command from its CommonJS bundle (dist/bundle/, scripts/bundle.mjs) when the build made
 * one, else from its modules. The shim runs once per editor session: its bundle costs ~5 MB less
 * memory per shim than its modules loaded as ES modules (bench "sharing"); `spawn`'s and `list`'s load
 * their ~60 modules as one file (bench "spawn", "fleet"). The other commands load their modules as they are.
 */
async function bundled(file: string, modules: () => Promise<Command>): Promise<Command> {
  try {
    return require(`../bundle/${file}`) as Command;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw err;
    return modules();
  }
}

/** Commands whose every argument belongs to another program (no `--help` of exai's). */
const PASSTHROUGH = new Set(['pm2']);

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    // Bare `exai` is a usage error: the list goes to stderr, exit 2.
    return (await import('./help.js')).printHelp(name === 'help' ? rest[0] : undefined, { usageError: name === undefined });
  }
  if (name === '--version' || name === '-v') {
    const { EXAI_VERSION } = await import('../common/version.js');
    process.stdout.write(`${EXAI_VERSION}\n`);
    return 0;
  }
  const load = commands[name];
  if (!load) {
    writeErr(`exai: unknown command ${JSON.stringify(name)}; run \`exai --help\` for the list of commands`);
    return EXIT_USAGE;
  }
  // After `--` the arguments are another program's (`exai shim --exec -- cmd --help`).
  const mine = rest.includes('--') ? rest.slice(0, rest.indexOf('--')) : rest;
  if (!PASSTHROUGH.has(name) && (mine.includes('--help') || mine.includes('-h'))) {
    return (await import('./help.js')).printHelp(name, { usageError: false });
  }
  const command = await load();
  return command.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => exitAfterFlush(code),
  (err: unknown) => exitAfterFlush(failure(err)),
);
