/**
 * Usage texts: the command list for `exai --help` and one small help per command for
 * `exai <command> --help`. Kept apart from the commands so that help loads nothing else.
 * Every flag is one entry (one line here); the texts are wrapped to 80 columns when printed.
 */
import { EXIT_OK, EXIT_USAGE } from '../common/exit-codes.js';


interface Flag {
  /** As typed, with its value placeholder: `-w, --workspace DIR`. */
  flag: string;
  text: string;
}

interface CommandHelp {
  usage: string[];
  summary: string;
  flags: Flag[];
  notes?: string[];
}

const WIDTH = 80;

const workspaceFlag: Flag = { flag: '-w, --workspace DIR', text: 'the workspace folder (the folder the editor opens)' };
const jsonFlag: Flag = { flag: '--json', text: 'machine output on stdout (errors too, as {"error": {code, message}})' };
const helpFlag: Flag = { flag: '-h, --help', text: 'this help' };

function targets(verb: string, summary: string, extra: Flag[] = []): CommandHelp {
  return {
    usage: [`exai ${verb} --workspace DIR [--json]`, `exai ${verb} --all [--json]`],
    summary,
    flags: [workspaceFlag, { flag: '--all', text: 'every registered workspace' }, ...extra, jsonFlag, helpFlag],
  };
}

export const COMMANDS: Record<string, CommandHelp> = {
  spawn: {
    usage: ['exai spawn --workspace DIR [options]'],
    summary:
      "Starts (or reuses) the workspace's daemon on its sticky port, returns once it answers an authenticated MCP ping, and (re)writes every recorded client config that is missing or names another port. Ctrl-C rolls back a start whose daemon has not started yet, else finishes it first.",
    flags: [
      { flag: '-w, --workspace DIR', text: 'the folder the editor opens (required); for a multi-root .code-workspace, spawn each of its folders' },
      { flag: '--port N', text: 'pin port N (refused if another workspace or process holds it)' },
      { flag: '--client KIND', text: 'write the config of KIND: vscode (default), claude, cursor, gemini or codex; repeat for several' },
      { flag: '--transport stdio|http', text: "Claude Code's entry: the stdio shim (default) or Streamable HTTP to the daemon, its token from `exai token` at run time (with --client claude)" },
      { flag: '--no-config', text: 'write no client config (now or later)' },
      { flag: '--restart', text: 'restart the daemon even if it is healthy' },
      { flag: '--idle-timeout DURATION', text: 'stop the daemon after this long without a client (90s, 30m, 2h; 0 = never); it wakes on demand' },
      { flag: '--pass-env NAME', text: 'hand your variable NAME to the daemon (stored beside its token, never in pm2); repeatable' },
      { flag: '--drop-env NAME', text: 'stop passing NAME (recorded by an earlier --pass-env); repeatable' },
      jsonFlag,
      helpFlag,
    ],
  },
  list: {
    usage: ['exai list [--json]', 'exai ls [--json]'],
    summary:
      'Every workspace: pm2 name, port, status, health, upstreams, pid, uptime, restarts, memory, cpu, and the command that brings back what pm2 no longer runs.',
    flags: [jsonFlag, helpFlag],
    notes: [
      'The table fits COLUMNS (or the terminal width); piped without COLUMNS it is not cut. Paths are shortened in the middle; columns that do not fit are left out (--json has them all).',
    ],
  },
  stop: targets('stop', "Stops the workspace's daemon; it stays down (also when pm2 brings the fleet back) until `exai spawn`."),
  restart: targets('restart', "Restarts the workspace's daemon on its port and waits until it is healthy."),
  remove: targets('remove', "Deletes the workspace's pm2 app and token, frees its port, takes exai's entry (only that) out of its client configs, and deletes only the files and folders exai created (never the workspace folder). Ctrl-C finishes a workspace whose removal began; with --all, those not begun stay."),
  logs: {
    usage: ['exai logs --workspace DIR [--lines N] [--follow] [--json]'],
    summary: "The daemon's stdout and stderr, interleaved by time.",
    flags: [
      workspaceFlag,
      { flag: '-n, --lines N', text: 'the last N lines (default 50; 0 prints none, with --follow only new ones)' },
      { flag: '-f, --follow', text: 'keep printing new lines until Ctrl-C' },
      { flag: '--json', text: 'one JSON object per line: {"time", "stream": "out"|"err", "line"}' },
      helpFlag,
    ],
  },
  token: {
    usage: ['exai token --workspace DIR [--json] [--wake] [--show]'],
    summary:
      "Prints the header an HTTP client sends to the workspace's daemon (`Authorization: Bearer …`), for a client's headers helper. Only to a pipe or file: on a terminal it refuses unless --show. Errors go to stderr only.",
    flags: [
      workspaceFlag,
      { flag: '--json', text: 'print {"Authorization": "Bearer …"} (what Claude Code\'s headersHelper reads)' },
      { flag: '--wake', text: 'start the daemon first when it does not answer (idle, stopped), as the shim does for a client' },
      { flag: '--show', text: 'print it on a terminal too' },
      helpFlag,
    ],
  },
  doctor: {
    usage: ['exai doctor [--fix [--yes]] [--json]'],
    summary: 'Checks pm2, the registry and every workspace (folder, daemon, client configs, upstreams): one line per finding, with its fix.',
    flags: [
      { flag: '--fix', text: 'repair what it can (restart daemons, rewrite configs, rebuild the registry)' },
      { flag: '-y, --yes', text: 'with --fix, also drop workspaces whose folder is gone' },
      jsonFlag,
      helpFlag,
    ],
  },
  pm2: {
    usage: ['exai pm2 ARGS...'],
    summary:
      "Runs exai's own pm2 (the one installed with exai) with exai's PM2_HOME: `exai pm2 ls`, `exai pm2 show NAME`, `exai pm2 monit`, `exai pm2 update`. Output, input and exit code are pm2's.",
    flags: [],
    notes: ['Every argument goes to pm2, so `exai pm2 --help` is pm2\'s help; no --json (pm2 has `jlist`).'],
  },
  daemon: {
    usage: ['exai daemon'],
    summary: "One workspace's MCP daemon: what pm2 runs. Configured by the environment only (EXAI_HOME, EXAI_WORKSPACE, EXAI_WS_PORT); no flags, no --json.",
    flags: [helpFlag],
  },
  shim: {
    usage: ['exai shim', 'exai shim --exec -- COMMAND [ARGS…]'],
    summary:
      "The stdio bridge an editor launches from its MCP config: MCP on stdin/stdout to the workspace's daemon. Configured by the environment (EXAI_WS_PORT, EXAI_WORKSPACE); no flags, no --json (stdout carries protocol bytes only). With --exec (a workspace's own daemon, .exai/daemon.json with \"wake\": true): starts the daemon if it is down, then runs COMMAND (its own shim) with stdio passed through.",
    flags: [helpFlag],
  },
};

const ALIASES: Record<string, string> = { ls: 'list' };

const OVERVIEW: [string, string][] = [
  ['spawn', "start (or reuse) a workspace's daemon; write its client config"],
  ['list, ls', 'every workspace: pm2 name, port, status, health'],
  ['stop', "stop a workspace's daemon (it stays down until spawn)"],
  ['restart', "restart a workspace's daemon on its port"],
  ['remove', "delete a workspace's daemon, free its port, clean its configs"],
  ['logs', "a workspace's daemon output, interleaved by time"],
  ['token', "the Authorization header for a workspace's daemon (for HTTP clients)"],
  ['doctor', 'find (and with --fix repair) what is wrong'],
  ['pm2', "exai's own pm2 with exai's PM2_HOME: exai pm2 ls|show|monit"],
  ['daemon', "one workspace's MCP daemon (what pm2 runs)"],
  ['shim', 'the stdio bridge an editor launches'],
];

/** `exai --help` (and bare `exai`, on stderr). */
export function overview(): string {
  return [
    'usage: exai <command> [options]',
    '',
    'commands:',
    ...columns(OVERVIEW),
    '',
    'options:',
    ...columns([
      ['-h, --help', "this list; `exai <command> --help` for a command's flags"],
      ['-v, --version', "print exai's version"],
    ]),
    '',
    ...wrap('Every command but daemon, shim and pm2 takes --json. Exit codes: 0 success, 1 failure, 2 usage error.', WIDTH),
  ].join('\n') + '\n';
}

/** `exai <command> --help`, or undefined for an unknown command. */
export function commandHelp(name: string): string | undefined {
  const help = COMMANDS[ALIASES[name] ?? name];
  if (!help) return undefined;
  const lines = help.usage.map((u, i) => `${i === 0 ? 'usage: ' : '       '}${u}`);
  lines.push('', ...wrap(help.summary, WIDTH));
  if (help.flags.length) lines.push('', 'options:', ...columns(help.flags.map((f) => [f.flag.startsWith('--') ? `    ${f.flag}` : f.flag, f.text])));
  for (const note of help.notes ?? []) lines.push('', ...wrap(note, WIDTH));
  return lines.join('\n') + '\n';
}

/** Two columns, the second wrapped to 80; a first cell too long for the column gets its own line. */
function columns(rows: [string, string][]): string[] {
  const indent = 2;
  const col = Math.min(26, Math.max(...rows.map(([a]) => a.length)) + indent + 2);
  const out: string[] = [];
  for (const [left, right] of rows) {
    const text = wrap(right, WIDTH - col);
    const head = ' '.repeat(indent) + left;
    if (head.length + 2 > col) {
      out.push(head);
      out.push(...text.map((t) => ' '.repeat(col) + t));
    } else {
      out.push(head.padEnd(col) + (text[0] ?? ''), ...text.slice(1).map((t) => ' '.repeat(col) + t));
    }
  }
  return out;
}

/** Greedy word wrap (help text is ASCII, so length is width). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push(line);
  return lines;
}

/**
 * Prints the overview (no topic) or a command's help: on stdout with exit 0 when asked for,
 * on stderr with exit 2 when it answers a usage error. An unknown topic is a usage error.
 */
export function printHelp(topic: string | undefined, { usageError }: { usageError: boolean }): number {
  const text = topic === undefined ? overview() : commandHelp(topic);
  if (text === undefined) {
    process.stderr.write(`exai: no help for ${JSON.stringify(topic)}; run \`exai --help\` for the list of commands\n`);
    return EXIT_USAGE;
  }
  (usageError ? process.stderr : process.stdout).write(text);
  return usageError ? EXIT_USAGE : EXIT_OK;
}
