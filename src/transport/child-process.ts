/**
 * An MCP client transport over a child process's stdio (MCP spec "Transports: stdio"), owned by
 * exai: it spawns the server as the leader of its own process tree, reads newline-delimited
 * messages up to a size cap, reports stderr line by line, and stops the whole tree in steps.
 * The SDK's StdioClientTransport keeps its process private and caps reads at 10 MiB; a
 * gateway needs the pid, the exit, the tree and a larger cap.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import type { Transport } from '@modelcontextprotocol/client';
import type { JSONRPCMessage } from '@modelcontextprotocol/client';
import crossSpawn from 'cross-spawn';
import { asSdkMessage, isJsonRpcMessage, type WireMessage } from './jsonrpc.js';
import { LineSplitter, sniffId, type JsonRpcId } from './lines.js';
import {
  decodeLine,
  dismissReaper,
  killStep,
  resolveCommand,
  runKillStep,
  spawnOptions,
  spawnCwd,
  startReaper,
  treeAlive,
  type Platform,
} from './process-tree.js';
import { monotonicNow } from '../common/clock.js';

export interface ChildProcessTransportOptions {
  command: string;
  args: readonly string[];
  cwd: string;
  env: Record<string, string>;
  /** The largest message read from stdout, in bytes; a larger one fails alone (see onOversize). */
  maxMessageBytes: number;
  platform?: Platform;
  /** After stdin closes, how long the server may take to exit before the tree gets SIGTERM (ms). */
  closeGraceMs?: number;
  /** After SIGTERM, how long the tree may take to exit before SIGKILL (ms). */
  killGraceMs?: number;
  /** Each stderr line, decoded (trailing CR and whitespace removed). */
  onStderrLine?: (line: string) => void;
  /**
   * A message larger than `maxMessageBytes` was dropped. Return the error response to deliver in
   * its place (its id was read from the message's first and last bytes), or undefined to drop it.
   */
  onOversize?: (id: JsonRpcId | undefined, bytes: number) => WireMessage | undefined;
  /** Sees every message before `onmessage`; returning true consumes it. */
  intercept?: (message: WireMessage) => boolean;
  /**
   * The process and its pipes are gone, whoever holds `onclose` (the SDK client replaces it, and
   * while it probes a server's era it does not pass a close on at once).
   */
  onClose?: () => void;
}

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Thrown by start() when the command cannot be found or run (`code`: ENOENT, EACCES, …). */
export class SpawnError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const WRITTEN = Promise.resolve();

export class ChildProcessTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: <T extends JSONRPCMessage>(message: T) => void;

  private child: ChildProcess | undefined;
  private reaper: ChildProcess | undefined;
  private readonly platform: Platform;
  private readonly closeGraceMs: number;
  private readonly killGraceMs: number;
  private exitInfo: ChildExit | undefined;
  private exited: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private closed = false;
  private cleanupTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: ChildProcessTransportOptions) {
    this.platform = options.platform ?? process.platform;
    this.closeGraceMs = options.closeGraceMs ?? 500;
    this.killGraceMs = options.killGraceMs ?? 1_000;
  }

  /** The server's pid (the tree's leader) once started. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /**
   * Always null: stderr is read line by line (onStderrLine). It is here because the SDK v2
   * client tells a stdio transport (whose silence on its version probe means a 2025-era server)
   * from an HTTP one by `stderr` and `pid`.
   */
  get stderr(): null {
    return null;
  }

  /** How the process ended; undefined while it runs. */
  get exit(): ChildExit | undefined {
    return this.exitInfo;
  }

  /** Spawns the server; rejects with a SpawnError when the command cannot be run. */
  async start(): Promise<void> {
    if (this.child) throw new Error('ChildProcessTransport already started');
    const { command, args, cwd, env } = this.options;
    const resolved = resolveCommand(command, { cwd, env, platform: this.platform });
    if (resolved === undefined) throw new SpawnError('ENOENT', `command ${JSON.stringify(command)} not found`);
    const folder = spawnCwd(cwd, this.platform);
    const child = crossSpawn(resolved, [...args], {
      cwd: folder.cwd,
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
      ...spawnOptions(this.platform),
    });
    this.child = child;
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (err: NodeJS.ErrnoException) => reject(new SpawnError(err.code ?? 'ESPAWN', folder.problem ? `${err.message}; ${folder.problem}` : err.message)));
    });
    child.on('error', (err) => this.onerror?.(err));
    const pid = child.pid!;
    track(pid, this.platform);
    this.reaper = startReaper(pid, this.killGraceMs, this.platform);

    const lines = new LineSplitter((line) => this.receive(line), {
      maxLineBytes: this.options.maxMessageBytes,
      onOversize: (head, tail, total) => {
        const replacement = this.options.onOversize?.(sniffId(head, tail), total);
        if (replacement) this.deliver(replacement);
      },
    });
    child.stdout!.on('data', (chunk: Buffer) => lines.push(chunk));
    child.stdout!.on('error', (err) => this.onerror?.(err));
    child.stdin!.on('error', () => undefined); // EPIPE after the server exited: its exit says it all.
    const stderr = new LineSplitter((line) => this.options.onStderrLine?.(decodeLine(line, this.platform).trimEnd()), {
      maxLineBytes: 64 * 1024,
    });
    child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.stderr!.on('error', () => undefined);

    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        untrack(pid);
        resolve();
        // Whatever the leader started dies with it: a leftover that holds a port or a lock
        // would make the next start fail.
        void this.stopTree().then(() => dismissReaper(this.reaper));
        // Messages written just before the exit are still in the pipe: 'close' comes after them.
        // A grandchild that left the group could hold stdout open forever; do not wait for it.
        this.cleanupTimer = setTimeout(() => child.stdout?.destroy(), this.closeGraceMs + this.killGraceMs + 500);
      });
    });
    child.once('close', () => {
      clearTimeout(this.cleanupTimer);
      lines.end();
      stderr.end();
      this.fireClose();
    });
  }

  send(message: JSONRPCMessage): Promise<void> {
    const stdin = this.child?.stdin;
    if (!stdin || stdin.destroyed || stdin.writableEnded) return Promise.reject(new Error('the server process is not running'));
    // The relay's hot path: no promise of its own while the pipe takes the bytes.
    if (stdin.write(`${JSON.stringify(message)}\n`)) return WRITTEN;
    return new Promise((resolve) => stdin.once('drain', () => resolve()));
  }

  /**
   * Stops the server in steps: stdin closes (a stdio server's signal to exit), then the tree
   * gets SIGTERM after closeGraceMs, then SIGKILL after killGraceMs. Resolves when the tree
   * is gone (Windows: after taskkill /T /F).
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const child = this.child;
      if (!child) {
        this.fireClose();
        return;
      }
      child.stdin?.end();
      if (this.exitInfo === undefined) await Promise.race([this.exited, delay(this.closeGraceMs)]);
      await this.stopTree();
      dismissReaper(this.reaper);
      // A leader that SIGKILL did not end (it cannot happen on POSIX) must not hang a daemon's stop.
      await Promise.race([this.exited, delay(2_000)]);
    })();
    return this.closing;
  }

  private treeStop: Promise<void> | undefined;

  /** SIGTERM to the tree, then SIGKILL once killGraceMs pass with any of it still alive. */
  private stopTree(): Promise<void> {
    this.treeStop ??= (async () => {
      const pid = this.child?.pid;
      if (pid === undefined) return;
      const term = killStep(pid, 'SIGTERM', this.platform);
      if (term) runKillStep(term);
      const deadline = monotonicNow() + (term ? this.killGraceMs : 0);
      while (monotonicNow() < deadline && (this.exitInfo === undefined || treeAlive(pid, this.platform))) await delay(25);
      if (this.exitInfo === undefined || treeAlive(pid, this.platform)) {
        const kill = killStep(pid, 'SIGKILL', this.platform);
        if (kill) runKillStep(kill);
      }
    })();
    return this.treeStop;
  }

  private receive(line: Buffer): void {
    let value: unknown;
    try {
      value = JSON.parse(line.toString('utf8'));
    } catch {
      this.onerror?.(new Error(`the server wrote a line on stdout that is not JSON: ${line.subarray(0, 200).toString('utf8')}`));
      return;
    }
    if (!isJsonRpcMessage(value)) {
      this.onerror?.(new Error(`the server wrote a message that is not JSON-RPC 2.0: ${line.subarray(0, 200).toString('utf8')}`));
      return;
    }
    this.deliver(value);
  }

  private deliver(message: WireMessage): void {
    let taken = false;
    try {
      taken = this.options.intercept?.(message) ?? false;
    } catch (err) {
      // A bug in the taker costs this message, never the process (this runs in a pipe's event).
      this.onerror?.(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    if (!taken) this.onmessage?.(asSdkMessage(message));
  }

  private fireClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.onclose?.();
    this.options.onClose?.();
  }
}

/**
 * Trees that must not outlive this process. A normal close stops them; this covers the process
 * exiting without one (an uncaught error, process.exit). SIGKILL of the process runs no code at
 * all: there the reaper acts.
 */
const liveTrees = new Map<number, Platform>();
let exitHookInstalled = false;
function track(pid: number, platform: Platform): void {
  liveTrees.set(pid, platform);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const [leader, p] of liveTrees) {
      const step = killStep(leader, 'SIGKILL', p);
      // Nothing asynchronous runs after 'exit': taskkill must finish here.
      if (step?.kind === 'taskkill') spawnSync(step.file, step.args, step.options);
      else if (step) runKillStep(step);
    }
  });
}
function untrack(pid: number): void {
  liveTrees.delete(pid);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
