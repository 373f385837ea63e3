import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as vscode from 'vscode';
import type { SpawnResult } from '../../src/start/start.js';
import { homeLayout } from '../../src/workspace/layout.js';
import { fetchHealth } from '../../src/transport/health.js';
import type { ExaiCli } from './cli.js';
import { samePath, type FleetSnapshot } from './fleet.js';
import type { Vscode } from './types.js';

export const PROVIDER_ID = 'exai';

export interface ProviderDeps {
  vscode: Vscode;
  cli: ExaiCli;
  /** The version of the exai the extension runs (`exai --version`). */
  exaiVersion: string;
  /** Whether the workspace is trusted: nothing is offered or started before it is. */
  trusted(): boolean;
  log(line: string): void;
  /** Called after a folder's daemon was started or found running (the views refresh). */
  onResolved?(folder: string): void;
}

/** A workspace folder on disk, as the provider offers it. */
interface Offer {
  folder: string;
  label: string;
}

/** `exai · <folder>`; a second folder of the same name gets its parent's name too. */
export function labels(folders: readonly { name: string; path: string }[]): Offer[] {
  const seen = new Map<string, number>();
  return folders.map((f) => {
    const base = `exai · ${f.name}`;
    const n = (seen.get(base) ?? 0) + 1;
    seen.set(base, n);
    return { folder: f.path, label: n === 1 ? base : `${base} (${n})` };
  });
}

/**
 * The folder's catalog digest: a hash of its `.exai/servers.json` (the upstreams it declares),
 * so a changed file changes the definition's version and VS Code refreshes the tools.
 */
export function catalogDigest(folder: string): string {
  const hash = createHash('sha256');
  for (const name of ['servers.json', 'daemon.json']) {
    let text = '';
    try {
      text = readFileSync(join(folder, '.exai', name), 'utf8');
    } catch {
      // No such file: only exai's built-ins, or exai's own daemon.
    }
    // Both names in: a file moved from one name to the other still changes the digest.
    hash.update(`${name}\0${text}\0`);
  }
  return hash.digest('hex').slice(0, 12);
}

/**
 * What `exai spawn --json` reports for a workspace with `.exai/daemon.json`: its `client` entry
 * as `.vscode/mcp.json` would hold it (src/supervisor/client-config.ts `clientEntry`), so the
 * expansion lives in one place. `${workspaceFolder}` is left in for VS Code to expand there.
 */
export interface OwnClientEntry {
  type?: 'stdio' | 'http';
  command?: string;
  args?: string[];
  env?: Record<string, string>;
  url?: string;
}

/**
 * One MCP server definition per workspace folder. `provide` only reads (VS Code calls it
 * eagerly); `resolve` runs `exai spawn --workspace DIR --no-config --json`, the same start path
 * as a user's `exai spawn` (it registers a folder that never was and writes no client config),
 * then hands VS Code the daemon: Streamable HTTP with the bearer token in memory when the
 * daemon's `/health` lists `http` among its transports, else the stdio shim; for a folder with
 * `.exai/daemon.json`, that file's own `client` entry (spawn reports it expanded).
 */
export class ExaiProvider implements vscode.McpServerDefinitionProvider {
  private readonly changed: vscode.EventEmitter<void>;
  readonly onDidChangeMcpServerDefinitions: vscode.Event<void>;
  private offers: Offer[] = [];
  /** The port each folder had at the last fleet read, to see a daemon move. */
  private readonly ports = new Map<string, number>();

  constructor(private readonly deps: ProviderDeps) {
    this.changed = new deps.vscode.EventEmitter<void>();
    this.onDidChangeMcpServerDefinitions = this.changed.event;
  }

  /** Folders came or went, a servers.json changed, trust was granted: VS Code asks again. */
  refresh(): void {
    this.changed.fire();
  }

  /** A folder's daemon moved to another port (or first got one): VS Code asks again. */
  noteFleet(snapshot: FleetSnapshot): void {
    if (snapshot.error) return;
    let moved = false;
    for (const offer of this.offers) {
      const row = snapshot.rows.find((r) => samePath(r.workspace, offer.folder));
      if (!row) continue;
      const before = this.ports.get(offer.folder);
      if (before !== undefined && before !== row.port) {
        this.deps.log(`${offer.folder}: the daemon moved from port ${before} to ${row.port}`);
        moved = true;
      }
      this.ports.set(offer.folder, row.port);
    }
    if (moved) this.changed.fire();
  }

  private folders(): Offer[] {
    const { vscode } = this.deps;
    const onDisk = (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file').map((f) => ({ name: f.name, path: f.uri.fsPath }));
    return labels(onDisk);
  }

  provideMcpServerDefinitions(): vscode.McpServerDefinition[] {
    if (!this.deps.trusted()) {
      this.offers = [];
      return [];
    }
    this.offers = this.folders();
    return this.offers.map((o) => this.stdioDefinition(o, this.ports.get(o.folder)));
  }

  async resolveMcpServerDefinition(def: vscode.McpServerDefinition, token?: vscode.CancellationToken): Promise<vscode.McpServerDefinition | undefined> {
    if (!this.deps.trusted()) return undefined;
    // The folders as they are now: VS Code may resolve a definition it remembered from before.
    const offer = (this.offers.length ? this.offers : this.folders()).find((o) => o.label === def.label);
    if (!offer) return undefined;
    const { cli, log } = this.deps;
    log(`${offer.folder}: exai spawn`);
    let started: SpawnResult;
    try {
      started = await cli.json<SpawnResult>(['spawn', '--workspace', offer.folder, '--no-config', '--json']);
    } catch (err) {
      // VS Code shows the error where the server would have started; the output channel keeps it.
      log(`${offer.folder}: ${err instanceof Error ? err.message : String(err)}`);
      this.deps.onResolved?.(offer.folder);
      throw err;
    }
    if (token?.isCancellationRequested) return undefined;
    const own = (started as SpawnResult & { clientEntry?: OwnClientEntry }).clientEntry;
    this.ports.set(offer.folder, started.port);
    log(`${offer.folder}: daemon ${started.reused ? 'running' : 'started'} on port ${started.port}${started.upstreamProblems?.length ? ` (${started.upstreamProblems.join('; ')})` : ''}`);
    this.deps.onResolved?.(offer.folder);
    if (own) return this.ownDefinition(offer, own);
    const health = await fetchHealth(started.port, 5_000).catch(() => undefined);
    if (health?.transports?.includes('http')) {
      const bearer = readFileSync(homeLayout(cli.home()).tokenFile(started.id), 'utf8').trim();
      return new this.deps.vscode.McpHttpServerDefinition(
        def.label,
        this.deps.vscode.Uri.parse(`http://127.0.0.1:${started.port}/mcp`),
        { Authorization: `Bearer ${bearer}` },
        this.version(offer.folder),
      );
    }
    return this.stdioDefinition(offer, started.port);
  }

  /**
   * The workspace's own daemon (`.exai/daemon.json`), as its `client` entry says: its URL with
   * no Authorization header (that daemon has its own auth), or its stdio command (behind
   * `exai shim --exec` with `"wake": true`). exai's shim cannot speak to such a daemon.
   */
  private ownDefinition(offer: Offer, entry: OwnClientEntry): vscode.McpServerDefinition {
    const { vscode } = this.deps;
    // A definition handed over by an extension gets no variable expansion: put the folder in.
    const folderIn = (v: string) => v.split('${workspaceFolder}').join(offer.folder);
    if (entry.type === 'http' && entry.url) {
      return new vscode.McpHttpServerDefinition(offer.label, vscode.Uri.parse(folderIn(entry.url)), {}, this.version(offer.folder));
    }
    const env = Object.fromEntries(Object.entries(entry.env ?? {}).map(([k, v]) => [k, folderIn(v)]));
    const def = new vscode.McpStdioServerDefinition(offer.label, folderIn(entry.command ?? ''), (entry.args ?? []).map(folderIn), env, this.version(offer.folder));
    def.cwd = vscode.Uri.file(offer.folder);
    return def;
  }

  private version(folder: string): string {
    return `${this.deps.exaiVersion}+${catalogDigest(folder)}`;
  }

  /**
   * The shim, as the config `exai spawn` writes launches it (src/supervisor/client-config.ts):
   * the workspace, its port and the state dirs, all explicit.
   */
  private stdioDefinition(offer: Offer, port: number | undefined): vscode.McpStdioServerDefinition {
    const { cli } = this.deps;
    const env: Record<string, string> = { EXAI_WORKSPACE: offer.folder, EXAI_HOME: cli.home() };
    if (port !== undefined) env.EXAI_WS_PORT = String(port);
    for (const name of ['PM2_HOME', 'EXAI_PORT_BASE', 'EXAI_PORT_STRIDE'] as const) {
      const value = cli.env[name];
      if (value) env[name] = value;
    }
    const def = new this.deps.vscode.McpStdioServerDefinition(offer.label, cli.command.command, [...cli.command.args, 'shim'], env, this.version(offer.folder));
    def.cwd = this.deps.vscode.Uri.file(offer.folder);
    return def;
  }
}
