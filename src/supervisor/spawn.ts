import { existsSync, readFileSync } from 'node:fs';
import { ExaiError, errorMessage } from '../common/errors.js';
import { homeLayout } from '../workspace/layout.js';
import { EXAI_VERSION } from '../common/version.js';
import { EXIT_ADDR_IN_USE } from '../common/exit-codes.js';
import { appOptions, LISTEN_TIMEOUT_MS } from './app.js';
import { checkClientConfig, writeClientConfig } from './client-config.js';
import { fetchHealth, probeDaemon, type DaemonStatus, type Health } from './health.js';
import { pm2Home } from '../workspace/layout.js';
import { withLock } from './lock.js';
import { withPm2, type Pm2 } from './pm2.js';
import { checkPinnedPort, choosePort, portSettings } from './ports.js';
import { Registry, type ClientKind, type RegistryEntry } from './registry.js';
import { ensureToken, readToken } from '../workspace/token.js';
import { resolveWorkspace, workspaceFromCanonical, type Workspace } from '../workspace/identity.js';

export interface SpawnOptions {
  /** The workspace directory as the user gave it. */
  workspace: string;
  home: string;
  env?: NodeJS.ProcessEnv;
  /** `--port N`: pin the workspace to this port. */
  port?: number;
  /** Client configs to write; default: those written before, or VS Code's for a new workspace. */
  clients?: readonly ClientKind[];
  /** `--no-config`: write no client config. */
  writeConfig?: boolean;
  /** `--restart`: restart even a healthy daemon. */
  restart?: boolean;
  onProgress?: (message: string) => void;
  onWarning?: (message: string) => void;
}

export interface SpawnResult {
  workspace: string;
  id: string;
  name: string;
  port: number;
  pid: number;
  status: string;
  reused: boolean;
  configFiles: string[];
  /** Set when a foreign process had taken the sticky port and the workspace moved. */
  movedFrom?: number;
  /** Why the workspace's `.exai/servers.json` is unusable (the daemon serves only its built-ins). */
  upstreamsConfigError?: string;
}

/** Ports tried before giving up when each one turns out taken at bind time. */
const MAX_PORT_ATTEMPTS = 5;
const HEALTH_GRACE_MS = 5_000;

/**
 * `exai spawn`, shared with the shim's self-start: idempotently brings the workspace's daemon
 * up on its sticky port and returns once it answers an authenticated MCP ping.
 */
export async function spawnWorkspace(opts: SpawnOptions): Promise<SpawnResult> {
  const workspace = resolveWorkspace(opts.workspace);
  const env = opts.env ?? process.env;
  const settings = portSettings(env); // bad EXAI_PORT_* is a usage error before any work
  const registry = new Registry(opts.home);
  const entry = registry.get(workspace.id); // a corrupt registry stops everything here
  // The common case — a healthy daemon of this version on the sticky port — needs no pm2:
  // skipping its connect keeps a reuse well under the cost of starting anything.
  const token = entry && !opts.restart ? readToken(opts.home, workspace.id) : undefined;
  if (token) {
    const reused = await tryReuse({ opts, env, workspace, registry, token, settings, entry });
    if (reused) return reused;
  }
  return withFleet(opts.home, (pm2) => spawnWith(pm2, workspace, opts), opts.onWarning);
}

/**
 * Spawns on an already connected pm2. One spawner per workspace at a time (a lock that is
 * re-entrant within one async context), so five concurrent `spawn`s of one workspace agree.
 */
function spawnWith(pm2: Pm2, workspace: Workspace, opts: SpawnOptions): Promise<SpawnResult> {
  const env = opts.env ?? process.env;
  const registry = new Registry(opts.home);
  return withLock(opts.home, `spawn-${workspace.id}`, async () => {
    const entry = registry.get(workspace.id);
    for (const kind of configKinds(opts, entry)) checkClientConfig(kind, workspace.path);
    const token = ensureToken(opts.home, workspace.id);
    const ctx: Context = { opts, env, workspace, registry, pm2, token, settings: portSettings(env), entry };
    if (!opts.restart) {
      const reused = await tryReuse(ctx, pm2);
      if (reused) return reused;
    }
    return start(ctx);
  });
}

/**
 * Runs `fn` with pm2 connected, after bringing the fleet back if this connect had to start the
 * pm2 daemon: its death (a crash, `pm2 kill`) took every workspace daemon with it, and users
 * expect the next exai command to restore them, each on its own port. Workspaces stopped on
 * purpose stay stopped; a workspace that cannot come back is reported, not fatal.
 */
export function withFleet<T>(home: string, fn: (pm2: Pm2) => Promise<T>, onWarning?: (message: string) => void): Promise<T> {
  return withPm2(home, async (pm2) => {
    if (pm2.startedDaemon) await resurrect(home, pm2, onWarning);
    return fn(pm2);
  });
}

async function resurrect(home: string, pm2: Pm2, onWarning?: (message: string) => void): Promise<void> {
  const entries = Object.values(new Registry(home).read().workspaces).filter((e) => !e.stopped && existsSync(e.workspace));
  await Promise.all(
    entries.map(async (entry) => {
      try {
        if (await pm2.describe(entry.name)) return; // someone else brought it back already
        await spawnWith(pm2, workspaceFromCanonical(entry.workspace), { workspace: entry.workspace, home, onWarning });
      } catch (err) {
        onWarning?.(`could not bring back ${entry.workspace}: ${errorMessage(err)}`);
      }
    }),
  );
}

/** What a spawn knows before it talks to pm2. */
interface Base {
  opts: SpawnOptions;
  env: NodeJS.ProcessEnv;
  workspace: Workspace;
  registry: Registry;
  token: string;
  settings: ReturnType<typeof portSettings>;
  entry: RegistryEntry | undefined;
}

interface Context extends Base {
  pm2: Pm2;
}

/** Reuses a healthy daemon of this exai version; with pm2 at hand, only one pm2 calls online. */
async function tryReuse(ctx: Base, pm2?: Pm2): Promise<SpawnResult | undefined> {
  const { entry, workspace, opts } = ctx;
  if (!entry || (opts.port !== undefined && opts.port !== entry.port)) return undefined;
  if (pm2 && (await pm2.describe(workspace.name))?.pm2_env?.status !== 'online') return undefined;
  const probe = await probeDaemon({ port: entry.port, id: workspace.id, token: ctx.token, withStatus: true });
  // A daemon of another exai version must not survive an upgrade: restart it.
  if (probe.state !== 'healthy' || probe.health.version !== EXAI_VERSION) return undefined;
  const configFiles = await writeConfigs(ctx, entry.port);
  return result(ctx, probe.health, 'online', true, configFiles, probe.status);
}

async function start(ctx: Context): Promise<SpawnResult> {
  const { workspace, pm2, registry, opts } = ctx;
  const previousPort = ctx.entry?.port;
  const tried = new Set<number>();
  // Whatever runs now is replaced: stopping it first also frees its port for reuse.
  if (await pm2.describe(workspace.name)) await pm2.delete(workspace.name);
  if (previousPort !== undefined) await evictOrphan(ctx, previousPort);

  for (let attempt = 0; attempt < MAX_PORT_ATTEMPTS; attempt++) {
    const port = await reservePort(ctx, tried);
    opts.onProgress?.(`starting ${workspace.name} on 127.0.0.1:${port}…`);
    await pm2.start(appOptions({ workspace, port, home: opts.home, env: ctx.env }));
    const outcome = await waitHealthy(ctx, port);
    if (outcome.kind === 'healthy') {
      const configFiles = await writeConfigs(ctx, port);
      const res = result(ctx, outcome.health, outcome.status, false, configFiles, outcome.daemon);
      if (previousPort !== undefined && previousPort !== port) {
        res.movedFrom = previousPort;
        opts.onWarning?.(
          `port ${previousPort} of ${workspace.path} is taken by another process; moved ${previousPort} -> ${port}` +
            (configFiles.length ? `, rewrote ${configFiles.join(', ')}` : ', no client config to rewrite'),
        );
      }
      return res;
    }
    await pm2.delete(workspace.name).catch(() => undefined);
    if (outcome.kind === 'port-taken' && opts.port === undefined && !ctx.entry?.pinned) {
      tried.add(port);
      continue;
    }
    await rollback(ctx);
    if (outcome.kind === 'port-taken') {
      throw new ExaiError('PORT_TAKEN', `port ${port} is pinned for ${workspace.path} but another process listens on it; free it or spawn with another --port`);
    }
    throw new ExaiError('DAEMON_UNHEALTHY', `the daemon for ${workspace.path} did not become healthy on port ${port}: ${outcome.reason}${logTail(ctx)}`);
  }
  await rollback(ctx);
  throw new ExaiError('NO_FREE_PORT', `ports ${[...tried].join(', ')} were all taken when the daemon tried to bind; free one or set EXAI_PORT_BASE`);
}

/**
 * A daemon of this workspace that pm2 no longer manages (its pm2 daemon died a moment ago and
 * it has not noticed yet) still holds the sticky port. It is ours — /health names our id — so
 * it is stopped rather than taken for a foreign squatter that forces a move.
 */
async function evictOrphan(ctx: Context, port: number): Promise<void> {
  const health = await fetchHealth(port, 1_000).catch(() => undefined);
  if (!health || health.id !== ctx.workspace.id || health.pid === process.pid) return;
  const alive = () => {
    try {
      process.kill(health.pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  try {
    process.kill(health.pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + 3_000;
  while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  if (alive()) process.kill(health.pid, 'SIGKILL');
  while (alive()) await new Promise((r) => setTimeout(r, 25));
}

/**
 * Assigns the port under the registry lock so concurrent spawns of different workspaces never
 * pick the same one; the daemon's bind then confirms it.
 */
function reservePort(ctx: Context, tried: ReadonlySet<number>): Promise<number> {
  const { workspace, opts, settings } = ctx;
  return ctx.registry.update(async (data) => {
    const current = data.workspaces[workspace.id];
    let port: number;
    if (opts.port !== undefined) {
      if (opts.port !== current?.port) await checkPinnedPort({ port: opts.port, data, id: workspace.id, ownPortInUseByUs: false });
      port = opts.port;
    } else if (current?.pinned && !tried.has(current.port)) {
      port = current.port;
    } else {
      port = await choosePort({ settings, data, id: workspace.id, preferred: current?.port, exclude: tried });
    }
    const now = new Date().toISOString();
    data.workspaces[workspace.id] = {
      ...current, // fields a newer exai wrote survive
      stopped: undefined, // spawning undoes `exai stop`
      workspace: workspace.path,
      id: workspace.id,
      name: workspace.name,
      port,
      pinned: opts.port !== undefined || (current?.pinned ?? false),
      clients: current?.clients ?? [],
      createdAt: current?.createdAt ?? now,
      updatedAt: now,
    };
    return port;
  });
}

type Outcome =
  | { kind: 'healthy'; health: Health; status: string; daemon?: DaemonStatus }
  | { kind: 'port-taken' }
  | { kind: 'failed'; reason: string };

/**
 * pm2's `wait_ready` gives up silently, so readiness is ours to establish: the app online
 * and an authenticated ping answered, within a bound. A daemon that exits with
 * EXIT_ADDR_IN_USE lost its port to someone else.
 */
async function waitHealthy(ctx: Context, port: number): Promise<Outcome> {
  const deadline = Date.now() + LISTEN_TIMEOUT_MS + HEALTH_GRACE_MS;
  let delay = 25;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    const proc = await ctx.pm2.describe(ctx.workspace.name);
    const pmEnv = proc?.pm2_env as ({ status?: string; exit_code?: number } | undefined);
    const status = pmEnv?.status ?? 'missing';
    if (pmEnv?.exit_code === EXIT_ADDR_IN_USE && status !== 'online' && status !== 'launching') return { kind: 'port-taken' };
    if (status === 'errored' || status === 'stopped' || status === 'missing') {
      return { kind: 'failed', reason: `pm2 reports it ${status}` };
    }
    if (status === 'online') {
      const probe = await probeDaemon({ port, id: ctx.workspace.id, token: ctx.token, timeoutMs: 1_000, withStatus: true });
      if (probe.state === 'healthy') return { kind: 'healthy', health: probe.health, status, daemon: probe.status };
      last = probe.reason;
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 250);
  }
  return { kind: 'failed', reason: `no healthy answer within ${LISTEN_TIMEOUT_MS + HEALTH_GRACE_MS} ms (${last})` };
}

/** A failed first spawn leaves no registry entry behind; an existing one keeps its old port. */
async function rollback(ctx: Context): Promise<void> {
  const { workspace, entry } = ctx;
  await ctx.registry
    .update((data) => {
      if (entry) data.workspaces[workspace.id] = entry;
      else delete data.workspaces[workspace.id];
    })
    .catch(() => undefined);
}

async function writeConfigs(ctx: Base, port: number): Promise<string[]> {
  const { opts, workspace } = ctx;
  const kinds = configKinds(opts, ctx.registry.get(workspace.id));
  const files: string[] = [];
  for (const kind of kinds) files.push((await writeClientConfig(kind, workspace.path, port, { home: opts.home, pm2Home: pm2Home(ctx.env) })).file);
  // Written configs are recorded only once they exist, so `remove` knows what to take back.
  await ctx.registry.update((data) => {
    const e = data.workspaces[workspace.id];
    if (!e) return;
    const merged = [...new Set([...e.clients, ...kinds])];
    if (merged.length !== e.clients.length) {
      e.clients = merged;
      e.updatedAt = new Date().toISOString();
    }
  });
  return files;
}

/** The configs to write: those asked for, else those written before, else VS Code's. */
function configKinds(opts: SpawnOptions, entry: RegistryEntry | undefined): ClientKind[] {
  if (opts.writeConfig === false) return [];
  if (opts.clients?.length) return [...opts.clients];
  return entry?.clients.length ? [...entry.clients] : ['vscode'];
}

function result(ctx: Base, health: Health, status: string, reused: boolean, configFiles: string[], daemon?: DaemonStatus): SpawnResult {
  const { workspace } = ctx;
  const res: SpawnResult = { workspace: workspace.path, id: workspace.id, name: workspace.name, port: health.port, pid: health.pid, status, reused, configFiles };
  if (daemon?.upstreamsConfigError) {
    res.upstreamsConfigError = daemon.upstreamsConfigError;
    ctx.opts.onWarning?.(daemon.upstreamsConfigError);
  }
  return res;
}

function logTail(ctx: Context, lines = 5): string {
  try {
    const text = readFileSync(homeLayout(ctx.opts.home).errLog(ctx.workspace.name), 'utf8').trimEnd();
    if (!text) return '';
    return `; last lines of its error log: ${text.split('\n').slice(-lines).join(' | ')}`;
  } catch {
    return '';
  }
}

