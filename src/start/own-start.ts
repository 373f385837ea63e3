/**
 * Starting (or reusing) a workspace's own daemon (.exai/daemon.json) on a connected pm2: the
 * same lock, launch spec, pm2 app name and start paths as exai's daemon (start.ts hands this
 * module its shared steps), with the declared readiness check instead of exai's authenticated
 * ping. A start that fails leaves nothing running and the launch spec as it was.
 */
import { closeSync, mkdirSync, openSync, readSync, rmSync, statSync, chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeFileAtomic } from '../common/atomic-write.js';
import { unstamped } from '../daemon/stamp-lines.js';
import { knock } from '../transport/knock.js';
import { ExaiError } from '../common/errors.js';
import { shellArg } from '../common/shell.js';
import { monotonicNow } from '../common/clock.js';
import { daemonLaunch, type DaemonFile, type Readiness } from '../workspace/daemon-file.js';
import { clearIdle } from '../workspace/idle-marker.js';
import { launchVariables } from '../workspace/launch-env.js';
import { homeLayout } from '../workspace/layout.js';
import { DEFAULT_IDLE_TIMEOUT_MS, type RegistryEntry } from '../workspace/registry-file.js';
import { ensurePrivateDir } from '../workspace/token.js';
import { appOptions } from './app.js';
import type { Pm2 } from '../supervisor/pm2.js';
import { describePortHolder } from '../supervisor/port-owner.js';
import { probePort } from '../supervisor/ports.js';
import type { SpawnResult, StartContext } from './start.js';

/** The steps of start.ts an own daemon's start shares (passed in: no import circle). */
export interface SharedSteps {
  reserve(ctx: StartContext, tried: ReadonlySet<number>): Promise<RegistryEntry>;
  checkRequestedPort(ctx: StartContext, port: number): Promise<void>;
  assertOwn(ctx: StartContext, pm2: Pm2): Promise<boolean>;
  restoreEntry(ctx: StartContext): Promise<void>;
  writeConfigs(ctx: StartContext, port: number): Promise<string[]>;
  interrupted(ctx: StartContext): ExaiError;
}

const MAX_PORT_ATTEMPTS = 5;

/** Reuses the workspace's own daemon when pm2 runs it online, with this launch spec, and it passes its readiness check. */
export async function tryReuseOwn(ctx: StartContext, pm2: Pm2, own: DaemonFile, steps: SharedSteps, digest: string): Promise<SpawnResult | undefined> {
  const { entry } = ctx;
  if (!entry || entry.stopped || (ctx.opts.port !== undefined && ctx.opts.port !== entry.port)) return undefined;
  const proc = await pm2.describe(ctx.name);
  const env = proc?.pm2_env as { status?: string; env?: { EXAI_SPEC?: string } } | undefined;
  if (env?.status !== 'online' || env.env?.EXAI_SPEC !== digest || entry.ownDaemon?.spec !== digest) return undefined;
  const ready = await checkReady(own.ready.kind === 'log' ? { kind: 'tcp', timeoutMs: 0 } : own.ready, entry.port, undefined);
  if (!ready) return undefined;
  const configFiles = await steps.writeConfigs(ctx, entry.port);
  return { workspace: ctx.workspace.path, id: ctx.workspace.id, name: ctx.name, port: entry.port, pid: proc?.pid ?? 0, status: 'online', reused: true, configFiles, ...skipped(ctx) };
}

/** Starts the workspace's own daemon: a free port, the launch written, pm2 started, the declared readiness waited for. */
export async function startOwn(ctx: StartContext, pm2: Pm2, own: DaemonFile, steps: SharedSteps): Promise<SpawnResult> {
  const { workspace, opts, entry: previous } = ctx;
  if (opts.port !== undefined && opts.port !== previous?.port) await steps.checkRequestedPort(ctx, opts.port);
  const wasRunning = await steps.assertOwn(ctx, pm2);
  if (wasRunning && opts.keepRunning) {
    throw new ExaiError('DAEMON_BUSY', `the daemon of ${workspace.path} is online but did not pass its readiness check; it is left running (\`exai restart --workspace ${shellArg(workspace.path)}\` replaces it)`);
  }
  if (opts.interrupted?.()) throw steps.interrupted(ctx);
  await pm2.delete(ctx.name).catch(() => undefined);
  const tried = new Set<number>();
  for (let attempt = 0; attempt < MAX_PORT_ATTEMPTS; attempt++) {
    const spec = await steps.reserve(ctx, tried);
    await opts.onStep?.('registry');
    if (opts.interrupted?.()) {
      await steps.restoreEntry(ctx);
      throw steps.interrupted(ctx);
    }
    // Its old self is gone (deleted above), so anything on the port now is someone else's.
    if ((await probePort(spec.port)) !== 'free') {
      if (opts.port === undefined && !spec.pinned) {
        tried.add(spec.port);
        continue;
      }
      await steps.restoreEntry(ctx);
      const holder = (await describePortHolder(spec.port)) ?? 'another process';
      throw new ExaiError('PORT_TAKEN', `port ${spec.port} is pinned for ${workspace.path} but ${holder} listens on it; free it, or spawn with another --port`);
    }
    writeOwnLaunch(ctx, own, spec.port);
    clearIdle(ctx.home, workspace.id);
    const logs = logOffsets(ctx);
    opts.onProgress?.(`starting ${ctx.name} (${own.command}, .exai/daemon.json) on 127.0.0.1:${spec.port}…`);
    // This start is a client of the daemon until it is ready: a launcher whose idle timeout is
    // shorter than the daemon's start (a slow machine) must not stop it under the spawn waiting for it.
    const lease = holdStartLease(ctx);
    let outcome: Ready;
    try {
      await pm2.start(appOptions(spec, ctx.home));
      await opts.onStep?.('started');
      outcome = await waitReady(ctx, pm2, own.ready, spec.port, logs);
    } finally {
      rmSync(lease, { force: true });
    }
    if (outcome.ok) {
      let configFiles: string[];
      try {
        configFiles = await steps.writeConfigs(ctx, spec.port);
      } catch (err) {
        await pm2.delete(ctx.name).catch(() => undefined);
        await steps.restoreEntry(ctx);
        throw err;
      }
      const res: SpawnResult = { workspace: workspace.path, id: workspace.id, name: ctx.name, port: spec.port, pid: outcome.pid, status: 'online', reused: false, configFiles, ...skipped(ctx) };
      if (previous !== undefined && previous.port !== spec.port) {
        res.movedFrom = previous.port;
        if (opts.port !== undefined) opts.onProgress?.(`moved ${previous.port} -> ${spec.port} as asked`);
        else opts.onWarning?.(`port ${previous.port} of ${workspace.path} is taken by another process; moved ${previous.port} -> ${spec.port}`);
      }
      return res;
    }
    // Nothing left running: pm2 deletes the app, the launcher takes the daemon's group down.
    await pm2.delete(ctx.name).catch(() => undefined);
    await steps.restoreEntry(ctx);
    if (!previous) forgetOwnLaunch(ctx);
    const tail = outputTail(ctx, logs);
    // A first spawn that fails leaves the workspace unregistered, where `exai logs` has nothing to
    // show: name the log files pm2 wrote instead.
    const layout = homeLayout(ctx.home);
    const more = previous ? `\`exai logs --workspace ${shellArg(workspace.path)}\`` : `its whole output: ${layout.outLog(ctx.name)}, ${layout.errLog(ctx.name)}`;
    throw new ExaiError('DAEMON_UNHEALTHY', `the daemon of ${workspace.path} (.exai/daemon.json) ${outcome.reason} on port ${spec.port}${tail ? `; its output ends: ${tail}` : '; it printed nothing'} (${more})`);
  }
  await steps.restoreEntry(ctx);
  throw new ExaiError('NO_FREE_PORT', `ports ${[...tried].join(', ')} were all taken; free one or set EXAI_PORT_BASE`);
}

/** The expanded launch the exai launcher reads (tokens/<id>.daemon.json, 0600), and the private state dir. */
function writeOwnLaunch(ctx: StartContext, own: DaemonFile, port: number): void {
  const layout = homeLayout(ctx.home);
  const stateDir = layout.stateDir(ctx.workspace.id);
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  chmodSync(stateDir, 0o700);
  // Only a daemon whose clients wake it (exai's shim in front) may idle out: nothing would start it again otherwise.
  const wakes = own.client.type === 'stdio' && own.client.wake;
  const idle = { idleTimeoutMs: wakes ? (ctx.plan.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS) : 0, leasesDir: layout.leasesDir(ctx.workspace.id) };
  const launch = daemonLaunch(own, { port, workspace: ctx.workspace.path, stateDir, token: ctx.token, env: ctx.plan.env.passed }, launchVariables(ctx.plan.env), idle);
  ensurePrivateDir(layout.tokens);
  writeFileAtomic(layout.daemonLaunchFile(ctx.workspace.id), JSON.stringify(launch, null, 2) + '\n', { mode: 0o600 });
}

/**
 * A first spawn that failed leaves no trace: the workspace is not registered, so no `remove` could
 * ever delete its expanded launch (passed values, the token in `files`) or its state dirs.
 */
function forgetOwnLaunch(ctx: StartContext): void {
  const layout = homeLayout(ctx.home);
  for (const path of [layout.daemonLaunchFile(ctx.workspace.id), layout.stateDir(ctx.workspace.id), layout.leasesDir(ctx.workspace.id)]) {
    rmSync(path, { recursive: true, force: true });
  }
}

/** A lease (`<pid>.start`) in the workspace's leases dir while this process starts the daemon. */
function holdStartLease(ctx: StartContext): string {
  const dir = homeLayout(ctx.home).leasesDir(ctx.workspace.id);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const lease = join(dir, `${process.pid}.start`);
  writeFileSync(lease, '');
  return lease;
}

type LogOffsets = { out: number; err: number };

function logOffsets(ctx: StartContext): LogOffsets {
  const size = (file: string) => {
    try {
      return statSync(file).size;
    } catch {
      return 0;
    }
  };
  const layout = homeLayout(ctx.home);
  return { out: size(layout.outLog(ctx.name)), err: size(layout.errLog(ctx.name)) };
}

/** What the daemon wrote to `file` since `offset` (at most the last 64 KiB). */
function readSince(file: string, offset: number): string {
  try {
    const size = statSync(file).size;
    const from = Math.max(offset, size - 65_536);
    if (size <= from) return '';
    const buf = Buffer.alloc(size - from);
    const fd = openSync(file, 'r');
    try {
      readSync(fd, buf, 0, buf.length, from);
    } finally {
      closeSync(fd);
    }
    return buf.toString('utf8');
  } catch {
    return '';
  }
}

function outputSince(ctx: StartContext, logs: LogOffsets): string {
  const layout = homeLayout(ctx.home);
  return readSince(layout.outLog(ctx.name), logs.out) + readSince(layout.errLog(ctx.name), logs.err);
}

/** The last lines of the daemon's output since this start, on one line. */
function outputTail(ctx: StartContext, logs: LogOffsets): string {
  // Without the time the launcher puts in front of each line (stamp-lines.ts).
  const all = outputSince(ctx, logs).split(/\r?\n/).map((l) => unstamped(l).trim()).filter(Boolean);
  // The launcher's own lines only when the daemon said nothing (a command that cannot run).
  const daemon = all.filter((l) => !l.startsWith('exai launcher:'));
  const lines = (daemon.length ? daemon : all).slice(-3);
  const text = lines.join(' | ');
  return text.length > 400 ? `...${text.slice(-397)}` : text;
}

type Ready = { ok: true; pid: number } | { ok: false; reason: string };

/**
 * Waits for the declared readiness within its timeout; an app pm2 reports stopped or errored,
 * or one it had to restart (the daemon exited), fails at once.
 */
async function waitReady(ctx: StartContext, pm2: Pm2, ready: Readiness, port: number, logs: LogOffsets): Promise<Ready> {
  const deadline = monotonicNow() + ready.timeoutMs;
  let delay = 25;
  for (;;) {
    const proc = await pm2.describe(ctx.name);
    const env = proc?.pm2_env as { status?: string; exit_code?: number; restart_time?: number } | undefined;
    const status = env?.status ?? 'missing';
    if (status === 'errored' || status === 'stopped' || status === 'missing' || (env?.restart_time ?? 0) > 0) {
      return { ok: false, reason: `exited before it became ready${env?.exit_code !== undefined ? ` (exit ${env.exit_code})` : ''}` };
    }
    if (status === 'online' && (await checkReady(ready, port, () => outputSince(ctx, logs)))) return { ok: true, pid: proc?.pid ?? 0 };
    if (monotonicNow() >= deadline) return { ok: false, reason: `did not become ready (${describeReady(ready, port)}) within ${ready.timeoutMs} ms` };
    await sleep(delay);
    delay = Math.min(delay * 2, 250);
  }
}

export function describeReady(ready: Readiness, port: number): string {
  if (ready.kind === 'tcp') return `a TCP connect to 127.0.0.1:${port}`;
  if (ready.kind === 'http') return `an HTTP answer from http://127.0.0.1:${port}${ready.path}`;
  return `${JSON.stringify(ready.text)} in its output`;
}

/** One readiness check: a TCP connect, an HTTP answer below 500, or the text in the output so far. */
export async function checkReady(ready: Readiness, port: number, output: (() => string) | undefined, timeoutMs = 1_000): Promise<boolean> {
  if (ready.kind === 'log') return output !== undefined && output().includes(ready.text);
  if (ready.kind === 'tcp') return knock('127.0.0.1', port, timeoutMs);
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: ready.path, method: 'GET', timeout: timeoutMs }, (res) => {
      res.resume();
      resolve((res.statusCode ?? 500) < 500);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

/** The configs this start left unwritten (unparsable), for `spawn --json`. */
function skipped(ctx: StartContext): Pick<SpawnResult, 'skippedConfigs'> {
  return ctx.skippedConfigs?.length ? { skippedConfigs: ctx.skippedConfigs } : {};
}
