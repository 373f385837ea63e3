import { createServer } from 'node:net';
import { ExaiError, errnoCode } from '../common/errors.js';
import type { RegistryData } from './registry.js';

export interface PortSettings {
  base: number;
  stride: number;
}

export const DEFAULT_PORT_BASE = 8079;
export const DEFAULT_PORT_STRIDE = 100;
const MAX_PORT = 65_535;

/** EXAI_PORT_BASE / EXAI_PORT_STRIDE, validated; unset or empty means the default. */
export function portSettings(env: NodeJS.ProcessEnv = process.env): PortSettings {
  return {
    base: intFromEnv(env, 'EXAI_PORT_BASE', DEFAULT_PORT_BASE, 1, MAX_PORT),
    stride: intFromEnv(env, 'EXAI_PORT_STRIDE', DEFAULT_PORT_STRIDE, 1, MAX_PORT),
  };
}

function intFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  const value = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ExaiError('ENV_INVALID', `${name}=${JSON.stringify(env[name])} is not a whole number from ${min} to ${max}; fix it or unset it (default ${fallback})`);
  }
  return value;
}

/** base, base + stride, base + 2*stride, … up to 65535. */
export function portCandidates(s: PortSettings): number[] {
  const out: number[] = [];
  for (let port = s.base; port <= MAX_PORT; port += s.stride) out.push(port);
  return out;
}

/**
 * Whether 127.0.0.1:port can be bound right now (bound and released at once). Only a hint:
 * someone may take it before the daemon binds; the daemon's own bind is the final truth.
 */
export function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', (err) => {
      const code = errnoCode(err);
      if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') resolve(false);
      else reject(err);
    });
    // exclusive: in a cluster worker, don't share a handle with the primary's listener.
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => {
      server.close(() => resolve(true));
    });
  });
}

/** Ports that registry entries other than `id` hold. */
function portsHeldByOthers(data: RegistryData, id: string): Map<number, string> {
  const held = new Map<number, string>();
  for (const entry of Object.values(data.workspaces)) {
    if (entry.id !== id) held.set(entry.port, entry.workspace);
  }
  return held;
}

export interface ChoosePortOptions {
  settings: PortSettings;
  data: RegistryData;
  id: string;
  /** The workspace's sticky port, tried first. */
  preferred?: number;
  /** Ports already tried (their bind failed): never handed out again. */
  exclude?: ReadonlySet<number>;
}

/**
 * The sticky port if it is still ours to take, else the first candidate that no other
 * workspace holds, that was not tried already, and that is free on 127.0.0.1.
 */
export async function choosePort(opts: ChoosePortOptions): Promise<number> {
  const held = portsHeldByOthers(opts.data, opts.id);
  const usable = (port: number) => !held.has(port) && !opts.exclude?.has(port);
  if (opts.preferred !== undefined && usable(opts.preferred) && (await isPortFree(opts.preferred))) return opts.preferred;
  const candidates = portCandidates(opts.settings);
  for (const port of candidates) {
    if (port === opts.preferred) continue; // just found busy
    if (usable(port) && (await isPortFree(port))) return port;
  }
  const { base, stride } = opts.settings;
  throw new ExaiError(
    'NO_FREE_PORT',
    `no free port among the ${candidates.length} candidates from ${base} in steps of ${stride} (other workspaces hold ${held.size}, the rest are busy); remove unused workspaces with \`exai remove\`, or set EXAI_PORT_BASE/EXAI_PORT_STRIDE to another range, or pin one with --port`,
  );
}

export interface CheckPinnedPortOptions {
  port: number;
  data: RegistryData;
  id: string;
  /** The listener on the port is this workspace's own healthy daemon (the caller checked). */
  ownPortInUseByUs: boolean;
}

/** `--port N`: refused if another workspace holds N or a foreign process listens on it. */
export async function checkPinnedPort(opts: CheckPinnedPortOptions): Promise<void> {
  const { port } = opts;
  if (!Number.isInteger(port) || port < 1 || port > MAX_PORT) {
    throw new ExaiError('PORT_INVALID', `--port ${port} is not a port number; use a whole number from 1 to ${MAX_PORT}`);
  }
  const holder = portsHeldByOthers(opts.data, opts.id).get(port);
  if (holder !== undefined) {
    throw new ExaiError('PORT_TAKEN', `port ${port} belongs to the workspace ${JSON.stringify(holder)}; choose another --port, or remove that workspace first with \`exai remove\``);
  }
  if (opts.ownPortInUseByUs) return;
  if (!(await isPortFree(port))) {
    throw new ExaiError('PORT_TAKEN', `port ${port} on 127.0.0.1 is in use by another process; stop that process or choose another --port`);
  }
}

export type PortState = 'free' | 'in-use' | 'forbidden';

/**
 * Like isPortFree, but tells a port someone listens on (EADDRINUSE) from one this user may
 * not bind at all (EACCES: below 1024 without privileges, or a Windows excluded range), so
 * errors can name the real cause (issue 15 item 3).
 */
export function probePort(port: number): Promise<PortState> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', (err) => {
      const code = errnoCode(err);
      if (code === 'EADDRINUSE') resolve('in-use');
      else if (code === 'EACCES' || code === 'EADDRNOTAVAIL') resolve('forbidden');
      else reject(err);
    });
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => {
      server.close(() => resolve('free'));
    });
  });
}

/** The one-line reason a port cannot be bound, with the fix (`--port` is the user's flag). */
export function forbiddenPortMessage(port: number): string {
  return port < 1024
    ? `port ${port} needs privileges: ports below 1024 need root (or CAP_NET_BIND_SERVICE on Linux); choose --port 1024 or above`
    : `port ${port} on 127.0.0.1 may not be bound by this user (a reserved or excluded port range?); choose another --port`;
}
