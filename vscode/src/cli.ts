import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { resolveExaiHome } from '../../src/workspace/layout.js';

/**
 * Running exai from the extension: always as a child process (`spawn`, `list`, `logs`, …), so
 * the extension stays a thin client of the same CLI a user runs and the same start path
 * (`exai spawn`) registers and wakes a folder's daemon.
 */

/** The extension's settings, as read from `exai.*`. Empty strings mean unset. */
export interface ExaiSettings {
  /** `exai.path`: an exai executable, or a `.js`/`.cjs`/`.mjs` CLI entry run with node. */
  path: string;
  /** `exai.home`: EXAI_HOME for every exai the extension runs. */
  home: string;
}

/** How to start exai: `command ...args <exai arguments>`, spawned without a shell. */
export interface ExaiCommand {
  command: string;
  args: string[];
}

/** The first `node` on PATH (absolute, so VS Code needs no PATH lookup of its own), else `node`. */
export function findNode(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform, exists: (p: string) => boolean = existsSync): string {
  const names = platform === 'win32' ? ['node.exe'] : ['node'];
  const path = env.PATH ?? env.Path ?? '';
  for (const dir of path.split(platform === 'win32' ? ';' : delimiter)) {
    if (!dir) continue;
    for (const name of names) {
      const candidate = join(dir, name);
      if (exists(candidate)) return candidate;
    }
  }
  return 'node';
}

/** `exai.path` when set (a script runs with node), else the CLI the extension carries. */
export function exaiCommand(settings: ExaiSettings, bundledCli: string, node: string): ExaiCommand {
  const path = settings.path.trim();
  if (!path) return { command: node, args: [bundledCli] };
  return /\.[cm]?js$/i.test(path) ? { command: node, args: [path] } : { command: path, args: [] };
}

/** The environment exai runs with: the extension host's, with `exai.home` as EXAI_HOME when set. */
export function exaiEnv(settings: ExaiSettings, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const home = settings.home.trim();
  return home ? { ...base, EXAI_HOME: home } : { ...base };
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** exai's `--json` error shape (src/cli/output.ts `failure`). */
interface JsonFailure {
  error?: { code?: string; message?: string };
}

/** An exai command that failed: its one-line message, and its code when exai gave one. */
export class ExaiCommandError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

export interface Follower {
  dispose(): void;
  /** Settles when the child has exited. */
  exited: Promise<void>;
}

export class ExaiCli {
  constructor(
    readonly command: ExaiCommand,
    readonly env: NodeJS.ProcessEnv,
  ) {}

  /** EXAI_HOME as exai itself resolves it in `env`. */
  home(): string {
    return resolveExaiHome(this.env);
  }

  run(args: string[], timeoutMs = 120_000): Promise<RunResult> {
    return new Promise((resolve, reject) => {
      const child = spawn(this.command.command, [...this.command.args, ...args], { env: this.env, stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const timer = setTimeout(() => child.kill(), timeoutMs);
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(new ExaiCommandError(`cannot run exai (${this.command.command}): ${err.message}; set exai.path or put Node 20.19+ on PATH`));
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
  }

  /** Runs `exai <args>` (args include `--json`) and parses its stdout; a failure throws ExaiCommandError. */
  async json<T>(args: string[], timeoutMs?: number): Promise<T> {
    const res = await this.run(args, timeoutMs);
    let parsed: unknown;
    try {
      parsed = JSON.parse(res.stdout);
    } catch {
      parsed = undefined;
    }
    const failed = (parsed as JsonFailure | undefined)?.error;
    if (res.code !== 0 || parsed === undefined || failed) {
      const line = failed?.message ?? lastLine(res.stderr) ?? `exit ${res.code}`;
      throw new ExaiCommandError(`exai ${args[0]}: ${line}`, failed?.code);
    }
    return parsed as T;
  }

  /** Runs a long-lived exai command (`logs --follow --json`), handing over each stdout line. */
  follow(args: string[], onLine: (line: string) => void, onExit: (code: number | null, stderr: string) => void): Follower {
    const child = spawn(this.command.command, [...this.command.args, ...args], { env: this.env, stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true });
    let rest = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      const lines = (rest + d).split('\n');
      rest = lines.pop() ?? '';
      for (const l of lines) if (l) onLine(l);
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<void>((resolve) => {
      child.on('error', (err) => {
        onExit(null, err.message);
        resolve();
      });
      child.on('close', (code) => {
        onExit(code, stderr);
        resolve();
      });
    });
    return { dispose: () => void child.kill(), exited };
  }
}

function lastLine(text: string): string | undefined {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  return lines.at(-1)?.replace(/^exai: /, '');
}
