import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';

/**
 * A minimal client of `codex app-server` (JSON-RPC 2.0 without the "jsonrpc" member, one JSON
 * message per line on stdio; schema from `codex app-server generate-json-schema`). Enough to
 * start an ephemeral thread in a folder, which makes Codex load that project's MCP servers
 * from its .codex/config.toml, list them and call one of their tools, with no model involved.
 */
export class CodexAppServer {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private nextId = 0;
  private buffer = '';
  stderr = '';
  /** Notifications received, in order (method and params). */
  readonly notifications: { method: string; params: unknown }[] = [];

  constructor(bin: string, opts: { cwd: string; env: NodeJS.ProcessEnv }) {
    this.child = spawn(bin, ['app-server'], { cwd: opts.cwd, env: opts.env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr.setEncoding('utf8').on('data', (d: string) => (this.stderr = (this.stderr + d).slice(-20_000)));
    this.child.stdout.setEncoding('utf8').on('data', (d: string) => this.onData(d));
    this.child.on('exit', (code) => {
      for (const p of this.pending.values()) p.reject(new Error(`codex app-server exited (${code}): ${this.stderr.slice(-2000)}`));
      this.pending.clear();
    });
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    for (let i = this.buffer.indexOf('\n'); i >= 0; i = this.buffer.indexOf('\n')) {
      const line = this.buffer.slice(0, i).trim();
      this.buffer = this.buffer.slice(i + 1);
      if (!line) continue;
      const msg = JSON.parse(line) as { id?: number; method?: string; params?: unknown; result?: unknown; error?: { message: string } };
      if (msg.id !== undefined && msg.method === undefined) {
        const p = this.pending.get(msg.id);
        this.pending.delete(msg.id);
        if (msg.error) p?.reject(new Error(`codex: ${msg.error.message}`));
        else p?.resolve(msg.result);
      } else if (msg.method) {
        this.notifications.push({ method: msg.method, params: msg.params });
      }
    }
  }

  request<T>(method: string, params: unknown, timeoutMs = 60_000): Promise<T> {
    const id = ++this.nextId;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`codex ${method} did not answer in ${timeoutMs} ms: ${this.stderr.slice(-2000)}`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.child.stdin.write(JSON.stringify({ id, method, params }) + '\n');
    });
  }

  notify(method: string, params?: unknown): void {
    this.child.stdin.write(JSON.stringify(params === undefined ? { method } : { method, params }) + '\n');
  }

  /** Ends the app server (its MCP servers, exai's shim among them, see stdin close and exit). */
  close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
      this.child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      this.child.stdin.end();
      this.child.kill('SIGTERM');
    });
  }
}

export interface McpServerStatus {
  name: string;
  runtimeStatus?: string;
  tools: Record<string, { name: string }>;
  toolsError?: string | null;
}

export interface ToolCallResult {
  content: { type: string; text?: string }[];
  structuredContent?: Record<string, unknown>;
  isError?: boolean;
}
