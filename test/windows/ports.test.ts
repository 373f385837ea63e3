/**
 * WINDOWS.md #18: on Windows a bind to 127.0.0.1:P succeeds beside another program's listener
 * on 0.0.0.0:P, [::]:P or [::1]:P, so "127.0.0.1 binds" does not mean the port is free there.
 * On win32 isPortFree also connect-probes 127.0.0.1 and [::1] and test-binds 0.0.0.0 and [::].
 * Real sockets where Linux shows the same thing (a listener on [::1] only); an injected probe
 * for the wildcard binds, which Linux already refuses at the 127.0.0.1 bind.
 */
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { isPortFree, type PortProbe } from '../../src/supervisor/ports.js';

/** With an injected probe no socket is opened: this port is never bound or dialled. */
const NOT_BOUND = 40_001;

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** A foreign listener on host, on a port the OS picks. */
function listen(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer((socket) => socket.destroy());
    servers.push(server);
    server.once('error', reject);
    server.listen({ host, port: 0 }, () => resolve((server.address() as { port: number }).port));
  });
}

function probe(binds: Record<string, 'free' | 'busy' | 'unsupported'>, answers: Record<string, boolean> = {}) {
  const calls: string[] = [];
  const p: PortProbe = {
    bind: async (host) => {
      calls.push(`bind ${host}`);
      return binds[host] ?? 'free';
    },
    connect: async (host) => {
      calls.push(`connect ${host}`);
      return answers[host] ?? false;
    },
  };
  return { probe: p, calls };
}

describe('isPortFree sees the listeners Windows lets a 127.0.0.1 bind sit beside (WINDOWS.md #18)', () => {
  it('a program listening on [::1] only: the port is taken on win32 (a connect answers), free as before on Linux', async () => {
    const port = await listen('::1');
    expect(await isPortFree(port, { platform: 'linux' })).toBe(true);
    expect(await isPortFree(port, { platform: 'win32' })).toBe(false);
  });

  it('a listener on 0.0.0.0 makes the port busy everywhere; a port nobody holds is free on win32 too', async () => {
    const port = await listen('0.0.0.0');
    expect(await isPortFree(port, { platform: 'linux' })).toBe(false);
    expect(await isPortFree(port, { platform: 'win32' })).toBe(false);
    const other = await listen('127.0.0.1');
    await new Promise((r) => servers.pop()!.close(r));
    expect(await isPortFree(other, { platform: 'win32' })).toBe(true);
  });

  it('on win32 a wildcard listener that lets 127.0.0.1 bind (0.0.0.0 or [::] busy) is caught; a host without IPv6 is not "busy"', async () => {
    expect(await isPortFree(NOT_BOUND, { platform: 'win32', probe: probe({ '0.0.0.0': 'busy' }).probe })).toBe(false);
    expect(await isPortFree(NOT_BOUND, { platform: 'win32', probe: probe({ '::': 'busy' }).probe })).toBe(false);
    expect(await isPortFree(NOT_BOUND, { platform: 'win32', probe: probe({}, { '127.0.0.1': true }).probe })).toBe(false);
    const noV6 = probe({ '::': 'unsupported' });
    expect(await isPortFree(NOT_BOUND, { platform: 'win32', probe: noV6.probe })).toBe(true);
    expect(noV6.calls).toEqual(['bind 127.0.0.1', 'connect 127.0.0.1', 'connect ::1', 'bind 0.0.0.0', 'bind ::']);
  });

  it('on Linux only 127.0.0.1 is bound (no extra probes: the kernel already refuses that bind beside a wildcard listener)', async () => {
    const linux = probe({ '0.0.0.0': 'busy' });
    expect(await isPortFree(NOT_BOUND, { platform: 'linux', probe: linux.probe })).toBe(true);
    expect(linux.calls).toEqual(['bind 127.0.0.1']);
  });
});
