/**
 * Starting (or reusing) one workspace's daemon on a connected pm2, with its lock held: the
 * steps ensure.ts runs for every start path, from the launch spec in the registry (DESIGN.md
 * "Lifecycle"). A start that fails leaves what ran before it as it was (issue 15 item 1).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ProcessDescription } from 'pm2';
import { ExaiError, errorMessage } from '../common/errors.js';
import { EXIT_ADDR_IN_USE } from '../common/exit-codes.js';
import { clearIdle } from '../workspace/idle-marker.js';
import { deleteLaunchEnv, launchDigest, writeLaunchEnv } from '../workspace/launch-env.js';
import { homeLayout } from '../workspace/layout.js';
import type { RegistryData, RegistryEntry } from '../workspace/registry-file.js';
import { appOptions, LISTEN_TIMEOUT_MS } from './app.js';
import { configSettings } from '../supervisor/client-config.js';
import { movedFromEntry, writeRecordedConfigs } from '../supervisor/configs.js';
import { probeDaemon, type Health, type Probe } from './health.js';
import type { ExaiStatus } from '../workspace/status.js';
import { evictOrphan } from './orphan.js';
import type { Pm2 } from '../supervisor/pm2.js';
import { describePortHolder } from '../supervisor/port-owner.js';
import { choosePort, forbiddenPortMessage, portSettings, probePort } from '../supervisor/ports.js';
import { upstreamProblems } from '../fleet/upstream-report.js';
import { startOwn, tryReuseOwn, type SharedSteps } from './own-start.js';
import { monotonicNow } from '../common/clock.js';
import { shellArg } from '../common/shell.js';
import type { StartContext } from './context.js';
import { isCurrent, probeUntilSettled } from './probe.js';

export type { StartContext } from './context.js';

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
  /** The workspace's own servers that did not come up, one line each (also warned on stderr). */
  upstreamProblems?: string[];
  /** Client configs left as they were because they cannot be parsed, one line each (also warned). */
  skippedConfigs?: string[];
}

/** Ports tried before giving up when each one turns out taken at bind time. */
const MAX_PORT_ATTEMPTS = 5;
const HEALTH_GRACE_MS = 5_000;
/** How long a fresh start waits for the workspace's own servers to come up or fail once. */
const UPSTREAM_SETTLE_MS = 3_000;

/**
 * With the lock held and the launch environment written: the workspace's own daemon or exai's,
 * reused when current (`--restart` never reuses), else started.
 */
export async function reuseOrStart(ctx: StartContext, pm2: Pm2): Promise<SpawnResult> {
  if (ctx.own) {
    const reused = ctx.opts.restart ? undefined : await tryReuseOwn(ctx, pm2, ctx.own, SHARED_STEPS, ownDigest(ctx, ctx.entry?.port ?? 0));
    return reused ?? (await startOwn(ctx, pm2, ctx.own, SHARED_STEPS));
  }
  if (!ctx.opts.restart) {
    const reused = await tryReuse(ctx, pm2);
    if (reused) return reused;
  }
  return start(ctx, pm2);
}

/** The start was interrupted (SIGINT/SIGTERM) before its daemon started, and was undone. */
export function interruptedError(workspace: string): ExaiError {
  return new ExaiError('INTERRUPTED', `interrupted before the daemon started; rolled back: ${workspace} is as it was before this spawn`);
}

export function restoreLaunchEnv(ctx: StartContext): void {
  try {
    if (ctx.recorded) writeLaunchEnv(ctx.home, ctx.workspace.id, ctx.recorded);
    else deleteLaunchEnv(ctx.home, ctx.workspace.id);
  } catch {
    // The error being reported matters more; the next explicit spawn records it again.
  }
}

/**
 * Reuses a healthy daemon of this exai version launched with this launch spec. With pm2 at
 * hand, only one that pm2 calls online; a refused connect then is confirmed before the daemon
 * is given up for dead (WINDOWS.md #19: a busy or Windows loopback listener can refuse once).
 */
export async function tryReuse(ctx: StartContext, pm2?: Pm2): Promise<SpawnResult | undefined> {
  const { entry, workspace, opts } = ctx;
  // A workspace's own daemon is reused only with pm2 at hand (its launch digest is in pm2's env).
  if (ctx.own) return pm2 ? tryReuseOwn(ctx, pm2, ctx.own, SHARED_STEPS, ownDigest(ctx, entry?.port ?? 0)) : undefined;
  if (!entry || entry.stopped || (opts.port !== undefined && opts.port !== entry.port)) return undefined;
  if (pm2 && (await pm2.describe(ctx.name))?.pm2_env?.status !== 'online') return undefined;
  const probe = () => probeDaemon({ port: entry.port, id: workspace.id, token: ctx.token, withStatus: true });
  const outcome = pm2 ? await probeUntilSettled(probe) : await probe();
  if (!reusable(ctx, outcome)) return undefined;
  const configFiles = await writeConfigs(ctx, entry.port, entry);
  const res = result(ctx, outcome.health, 'online', true, configFiles, outcome.status);
  await reportUpstreams(ctx, res, entry.port, outcome.status, 0);
  return res;
}

/** A daemon is reused only if healthy, ours, of this version, and started with this launch spec. */
function reusable(ctx: StartContext, probe: Probe): probe is Extract<Probe, { state: 'healthy' }> {
  if (probe.state !== 'healthy') return false;
  const spec = launchDigest({ port: ctx.entry!.port, idleTimeoutMs: ctx.plan.idleTimeoutMs }, ctx.plan.env, ctx.token);
  return isCurrent(probe.health, { id: ctx.workspace.id, home: ctx.home, spec });
}

async function start(ctx: StartContext, pm2: Pm2): Promise<SpawnResult> {
  const { workspace, opts, entry: previous } = ctx;
  // A port the user asked for is checked before anything that runs is touched.
  if (opts.port !== undefined && opts.port !== previous?.port) await checkRequestedPort(ctx, opts.port);
  const existing = await pm2.describe(ctx.name);
  assertOwnApp(existing, ctx.home, ctx.name);
  const wasRunning = existing?.pm2_env?.status === 'online';
  if (wasRunning && opts.keepRunning) {
    throw new ExaiError('DAEMON_BUSY', `the daemon of ${workspace.path} is online but did not answer; it is left running (\`exai restart --workspace ${shellArg(workspace.path)}\` replaces it)`);
  }
  if (opts.interrupted?.()) throw interruptedError(workspace.path); // nothing touched yet
  if (existing) await pm2.delete(ctx.name);
  if (previous) await evictOrphan({ port: previous.port, id: workspace.id, home: ctx.home });

  const tried = new Set<number>();
  for (let attempt = 0; attempt < MAX_PORT_ATTEMPTS; attempt++) {
    const spec = await reserve(ctx, tried);
    await opts.onStep?.('registry');
    if (opts.interrupted?.()) {
      // Interrupted before the daemon started: undone, the way a failed start is.
      await restorePrevious(ctx, pm2, wasRunning);
      throw interruptedError(workspace.path);
    }
    // This start wakes it: an idle daemon finding its marker would go back to sleep.
    clearIdle(ctx.home, workspace.id);
    opts.onProgress?.(`starting ${ctx.name} on 127.0.0.1:${spec.port}…`);
    await pm2.start(appOptions(spec, ctx.home));
    // From here an interrupt lets the start finish: its daemon runs and its configs get written.
    await opts.onStep?.('started');
    const outcome = await waitHealthy(ctx, pm2, spec.port);
    if (outcome.kind === 'healthy') {
      let configFiles: string[];
      try {
        configFiles = await writeConfigs(ctx, spec.port, spec);
      } catch (err) {
        // Checked before the start, but a file can change meanwhile: a start that cannot wire
        // its configs is undone, not left running unreachable.
        await pm2.delete(ctx.name).catch(() => undefined);
        await restorePrevious(ctx, pm2, wasRunning);
        throw err;
      }
      const res = result(ctx, outcome.health, outcome.status, false, configFiles, outcome.daemon);
      // Waiting for servers to settle is for someone to tell (the CLI): a shim waking its daemon does not.
      await reportUpstreams(ctx, res, spec.port, outcome.daemon, opts.onWarning && !opts.interrupted?.() ? UPSTREAM_SETTLE_MS : 0);
      if (previous !== undefined && previous.port !== spec.port) {
        res.movedFrom = previous.port;
        const rewrote = configFiles.length ? `, rewrote ${configFiles.join(', ')}` : ', no client config to rewrite';
        // A move the user asked for (--port) is news, not a warning.
        if (opts.port !== undefined) opts.onProgress?.(`moved ${previous.port} -> ${spec.port} as asked${rewrote}`);
        else opts.onWarning?.(`port ${previous.port} of ${workspace.path} is taken by another process; moved ${previous.port} -> ${spec.port}${rewrote}`);
      }
      return res;
    }
    await pm2.delete(ctx.name).catch(() => undefined);
    if (outcome.kind === 'port-taken' && opts.port === undefined && !spec.pinned) {
      tried.add(spec.port);
      continue;
    }
    await restorePrevious(ctx, pm2, wasRunning);
    if (outcome.kind === 'port-taken') {
      const holder = (await describePortHolder(spec.port)) ?? 'another process';
      throw new ExaiError('PORT_TAKEN', `port ${spec.port} is pinned for ${workspace.path} but ${holder} listens on it; free it, or spawn with another --port`);
    }
    throw new ExaiError('DAEMON_UNHEALTHY', `the daemon for ${workspace.path} did not become healthy on port ${spec.port}: ${outcome.reason}${logTail(ctx)}`);
  }
  await restorePrevious(ctx, pm2, wasRunning);
  throw new ExaiError('NO_FREE_PORT', `ports ${[...tried].join(', ')} were all taken when the daemon tried to bind; free one or set EXAI_PORT_BASE`);
}

/** `--port N` to another port than the sticky one: refused up front if it cannot work. */
async function checkRequestedPort(ctx: StartContext, port: number): Promise<void> {
  const holder = Object.values(ctx.registry.read().workspaces).find((e) => e.port === port && e.id !== ctx.workspace.id);
  if (holder) {
    throw new ExaiError('PORT_TAKEN', `port ${port} belongs to the workspace ${holder.workspace}; choose another --port, or remove that workspace first with \`exai remove\``);
  }
  const state = await probePort(port);
  if (state === 'forbidden') throw new ExaiError('PORT_FORBIDDEN', forbiddenPortMessage(port));
  if (state === 'in-use') {
    const who = (await describePortHolder(port)) ?? 'another process';
    throw new ExaiError('PORT_TAKEN', `port ${port} on 127.0.0.1 is in use by ${who}; stop it or choose another --port`);
  }
}

/**
 * Never delete or adopt an app that another EXAI_HOME started: two homes can share one pm2
 * (on Windows they always do: WINDOWS.md #2).
 */
export function assertOwnApp(proc: ProcessDescription | undefined, home: string, name: string): void {
  const owner = appHome(proc);
  if (proc && owner !== undefined && resolve(owner) !== resolve(home)) {
    throw new ExaiError('APP_NOT_OWNED', `pm2 app ${name} belongs to EXAI_HOME ${owner}, not ${home}; exai leaves it alone — manage it from that EXAI_HOME, or give this one its own PM2_HOME`);
  }
}

/** The EXAI_HOME a pm2 app was started for (its env), if it says. */
export function appHome(proc: ProcessDescription | undefined): string | undefined {
  const env = proc?.pm2_env as { env?: { EXAI_HOME?: string }; EXAI_HOME?: string } | undefined;
  return env?.env?.EXAI_HOME ?? env?.EXAI_HOME;
}

/**
 * Writes the launch spec (port, spec fields) under the registry lock, so concurrent starts of
 * different workspaces never pick the same port; the daemon's bind then confirms it.
 */
function reserve(ctx: StartContext, tried: ReadonlySet<number>): Promise<RegistryEntry> {
  const { workspace, opts, plan } = ctx;
  return ctx.registry.update(async (data) => {
    const current = data.workspaces[workspace.id];
    let port: number;
    if (opts.port !== undefined) {
      const holder = Object.values(data.workspaces).find((e) => e.port === opts.port && e.id !== workspace.id);
      if (holder) throw new ExaiError('PORT_TAKEN', `port ${opts.port} belongs to the workspace ${holder.workspace}; choose another --port`);
      port = opts.port;
    } else if (current?.pinned && !tried.has(current.port)) {
      port = current.port;
    } else {
      port = await choosePort({ settings: portSettings(ctx.env), data, id: workspace.id, preferred: current?.port ?? opts.preferredPort, exclude: tried });
    }
    const moved = current ? undefined : movedFrom(ctx, data);
    const now = new Date().toISOString();
    const next: RegistryEntry = {
      ...current, // fields a newer exai wrote survive
      stopped: undefined, // starting undoes `exai stop`
      workspace: workspace.path,
      id: workspace.id,
      name: ctx.name,
      port,
      pinned: opts.port !== undefined || (current?.pinned ?? false),
      // Recorded before the configs are written: a start interrupted (or killed) after this
      // point leaves the next start a record of every config it must (re)write.
      clients: [...new Set([...(current?.clients ?? []), ...plan.writeKinds])],
      // A new entry records what exai creates from the start; an older exai's entry has no record.
      // A folder moved here keeps the record of its old entry (paths relative to the workspace):
      // the configs it adopts are the ones exai created there, and `remove` must know it.
      created: current ? current.created : moved ? moved.created && [...moved.created] : [],
      movedFrom: current ? current.movedFrom : moved?.workspace,
      passEnv: plan.passEnv.length ? plan.passEnv : undefined,
      idleTimeoutMs: plan.idleTimeoutMs,
      ownDaemon: ctx.own ? { spec: ownDigest(ctx, port) } : undefined,
      createdAt: current?.createdAt ?? now,
      updatedAt: current?.updatedAt ?? now,
    };
    // A wake leaves its entry as it was: no write, and `updatedAt` says when the entry last changed.
    if (JSON.stringify(next) !== JSON.stringify(current)) next.updatedAt = now;
    data.workspaces[workspace.id] = next;
    return next;
  });
}

type Outcome =
  | { kind: 'healthy'; health: Health; status: string; daemon?: ExaiStatus }
  | { kind: 'port-taken' }
  | { kind: 'failed'; reason: string };

/**
 * pm2's `wait_ready` gives up silently, so readiness is ours to establish: the app online
 * and an authenticated ping answered, within a bound. A daemon that exits with
 * EXIT_ADDR_IN_USE lost its port to someone else.
 */
async function waitHealthy(ctx: StartContext, pm2: Pm2, port: number): Promise<Outcome> {
  const deadline = monotonicNow() + LISTEN_TIMEOUT_MS + HEALTH_GRACE_MS;
  let delay = 25;
  let last = 'no answer yet';
  while (monotonicNow() < deadline) {
    const proc = await pm2.describe(ctx.name);
    const pmEnv = proc?.pm2_env as { status?: string; exit_code?: number } | undefined;
    const status = pmEnv?.status ?? 'missing';
    if (pmEnv?.exit_code === EXIT_ADDR_IN_USE && status !== 'online' && status !== 'launching') return { kind: 'port-taken' };
    if (status === 'errored' || status === 'stopped' || status === 'missing') {
      return { kind: 'failed', reason: `pm2 reports it ${status}${pmEnv?.exit_code !== undefined ? ` (exit ${pmEnv.exit_code})` : ''}` };
    }
    if (status === 'online') {
      const probe = await probeDaemon({ port, id: ctx.workspace.id, token: ctx.token, timeoutMs: 1_000, withStatus: true });
      if (probe.state === 'healthy') return { kind: 'healthy', health: probe.health, status, daemon: probe.status };
      last = probe.reason;
    }
    await sleep(delay);
    delay = Math.min(delay * 2, 250);
  }
  return { kind: 'failed', reason: `no healthy answer within ${LISTEN_TIMEOUT_MS + HEALTH_GRACE_MS} ms (${last})` };
}

/**
 * A failed start puts back what was there: the registry entry (a first spawn leaves none),
 * the launch environment, and — when one ran before — the daemon on its old port.
 */
async function restorePrevious(ctx: StartContext, pm2: Pm2 | undefined, wasRunning: boolean): Promise<void> {
  const { workspace, entry: previous } = ctx;
  await ctx.registry
    .update((data) => {
      if (previous) data.workspaces[workspace.id] = previous;
      else delete data.workspaces[workspace.id];
    })
    .catch(() => undefined);
  restoreLaunchEnv(ctx);
  if (!previous || !wasRunning || !pm2) return;
  try {
    await pm2.start(appOptions(previous, ctx.home));
    const outcome = await waitHealthy(ctx, pm2, previous.port);
    if (outcome.kind !== 'healthy') throw new Error(outcome.kind === 'failed' ? outcome.reason : 'its port is taken');
  } catch (err) {
    ctx.opts.onWarning?.(`could not bring back the daemon that ran on port ${previous.port}: ${errorMessage(err)}`);
  }
}

/** `entry`: the registry entry as this start read or reserved it (spares the registry a read when nothing new is recorded). */
function writeConfigs(ctx: StartContext, port: number, entry?: RegistryEntry): Promise<string[]> {
  const { workspace, plan } = ctx;
  const dirs = { ...configSettings(ctx.home, ctx.env, workspace.id, ctx.own), claudeTransport: ctx.opts.transport };
  return writeRecordedConfigs({ registry: ctx.registry, workspace: workspace.path, id: workspace.id, kinds: plan.writeKinds, port, dirs, onStep: ctx.opts.onStep, entry });
}

/** A workspace new to exai that holds another's configs (moved or renamed): recorded for doctor, and said once. */
function movedFrom(ctx: StartContext, data: RegistryData): RegistryEntry | undefined {
  const old = movedFromEntry(ctx.workspace.path, ctx.workspace.id, data);
  if (!old) return undefined;
  const free = `\`exai remove --workspace ${shellArg(old.workspace)}\` frees port ${old.port}`;
  ctx.opts.onWarning?.(`${ctx.workspace.path} holds the client configs of ${old.workspace} (port ${old.port}), whose folder is gone: moved or renamed? It gets its own port and configs; ${free}`);
  return old;
}

/**
 * The workspace's own servers that did not come up go into the result and, unless the caller
 * is a bulk path that reports them elsewhere (`exai list` after the fleet came back), to stderr.
 */
async function reportUpstreams(ctx: StartContext, res: SpawnResult, port: number, status: ExaiStatus | undefined, settleMs: number): Promise<void> {
  const problems = await upstreamProblems({ port, token: ctx.token, workspace: ctx.workspace.path, status, settleMs });
  if (!problems.length) return;
  res.upstreamProblems = problems;
  if (ctx.opts.reportUpstreams !== false) for (const problem of problems) ctx.opts.onWarning?.(problem);
}

function result(ctx: StartContext, health: Health, status: string, reused: boolean, configFiles: string[], daemon?: ExaiStatus): SpawnResult {
  const { workspace } = ctx;
  const res: SpawnResult = { workspace: workspace.path, id: workspace.id, name: ctx.name, port: health.port, pid: health.pid, status, reused, configFiles };
  if (ctx.skippedConfigs?.length) res.skippedConfigs = ctx.skippedConfigs;
  if (daemon?.upstreamsConfigError) {
    res.upstreamsConfigError = daemon.upstreamsConfigError;
    ctx.opts.onWarning?.(daemon.upstreamsConfigError);
  }
  return res;
}

/** The last line of the daemon's error log, short: errors stay one line (issue 15 item 3). */
function logTail(ctx: StartContext): string {
  try {
    const text = readFileSync(homeLayout(ctx.home).errLog(ctx.name), 'utf8').trimEnd();
    const last = text.split('\n').at(-1)?.trim();
    if (!last) return '';
    return `; its error log ends: ${last.length > 200 ? `${last.slice(0, 197)}...` : last} (\`exai logs --workspace ${shellArg(ctx.workspace.path)}\`)`;
  } catch {
    return '';
  }
}

/** The launch digest of a workspace's own daemon on `port`: the daemon.json text is part of it. */
function ownDigest(ctx: StartContext, port: number): string {
  return launchDigest({ port, idleTimeoutMs: ctx.plan.idleTimeoutMs }, ctx.plan.env, ctx.token, ctx.own?.text);
}

/** The steps an own daemon's start shares with exai's (own-start.ts). */
const SHARED_STEPS: SharedSteps = {
  reserve,
  checkRequestedPort,
  async assertOwn(ctx, pm2) {
    const existing = await pm2.describe(ctx.name);
    assertOwnApp(existing, ctx.home, ctx.name);
    return existing?.pm2_env?.status === 'online';
  },
  restoreEntry: (ctx) => restorePrevious(ctx, undefined, false),
  writeConfigs,
  interrupted: (ctx) => interruptedError(ctx.workspace.path),
};
