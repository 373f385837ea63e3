import { createServer } from 'node:net';
import { knock } from '../transport/knock.js';
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

/** The two socket probes isPortFree makes; tests inject them. */
export interface PortProbe {
  /**
   * Binds host:port and releases it at once: 'free'; 'busy' when the port is taken or refused
   * (EADDRINUSE, EACCES); 'unsupported' when this host has no such address (no IPv6).
   */
  bind(host: string, port: number): Promise<'free' | 'busy' | 'unsupported'>;
  /** Whether something accepts a TCP connection on host:port (within 1 s). */
  connect(host: string, port: number): Promise<boolean>;
}

export const socketProbe: PortProbe = {
  bind: (host, port) =>
    new Promise((resolve, reject) => {
      const server = createServer();
      server.unref();
      server.once('error', (err) => {
        const code = errnoCode(err);
        if (code === 'EADDRINUSE' || code === 'EACCES') resolve('busy');
        else if (code === 'EADDRNOTAVAIL' || code === 'EAFNOSUPPORT') resolve('unsupported');
        else reject(err);
      });
      // exclusive: in a cluster worker, don't share a handle with the primary's listener.
      server.listen({ port, host, exclusive: true }, () => {
        server.close(() => resolve('free'));
      });
    }),
  connect: (host, port) => knock(host, port, 1_000),
};

/**
 * Whether the daemon can have `port` to itself right now: 127.0.0.1:port binds (and is
 * released at once). Only a hint: someone may take it before the daemon binds; the daemon's
 * own bind is the final truth.
 *
 * On Windows a bind to 127.0.0.1 succeeds beside another program's listener on 0.0.0.0 or
 * [::] (no SO_EXCLUSIVEADDRUSE by default: nodejs/node#14618, #36021), so there the port also
 * has to refuse connections on 127.0.0.1 and [::1] and bind on 0.0.0.0 and [::] (WINDOWS.md
 * #18). `platform` and `probe` are for tests.
 */
export async function isPortFree(port: number, opts: { platform?: NodeJS.Platform; probe?: PortProbe } = {}): Promise<boolean> {
  const probe = opts.probe ?? socketProbe;
  if ((await probe.bind('127.0.0.1', port)) !== 'free') return false;
  if ((opts.platform ?? process.platform) !== 'win32') return true;
  const answered = await Promise.all([probe.connect('127.0.0.1', port), probe.connect('::1', port)]);
  if (answered.some(Boolean)) return false;
  // One at a time: a dual-stack [::] bind conflicts with our own 0.0.0.0 one.
  for (const host of ['0.0.0.0', '::']) {
    if ((await probe.bind(host, port)) === 'busy') return false;
  }
  return true;
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
