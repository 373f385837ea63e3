/**
 * knock (src/transport/knock.ts): the TCP readiness check and the Windows port probe. A daemon
 * that writes to each connection at once and does not handle its sockets' errors (the shape of
 * many small servers) must survive being checked: the check closes with a FIN, never a reset.
 */
import { createServer, type AddressInfo, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { knock } from '../src/transport/knock.js';

let server: Server | undefined;
afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

/** A server that greets every connection with `bytes` and then ends it; counts how each one ended. */
async function greeter(bytes: number): Promise<{ port: number; ends: { clean: number; reset: number }; closed(n: number): Promise<void> }> {
  const ends = { clean: 0, reset: 0 };
  const waiting: { n: number; resolve: () => void }[] = [];
  const s = createServer((socket) => {
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') ends.reset++;
    });
    socket.on('close', (hadError) => {
      if (!hadError) ends.clean++;
      for (const w of waiting) if (ends.clean + ends.reset >= w.n) w.resolve();
    });
    socket.resume();
    socket.end(Buffer.alloc(bytes, 'x'));
  });
  server = s;
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const closed = (n: number) => (ends.clean + ends.reset >= n ? Promise.resolve() : new Promise<void>((resolve) => waiting.push({ n, resolve })));
  return { port: (s.address() as AddressInfo).port, ends, closed };
}

describe('knock', () => {
  it('a server that writes on accept is never reset by the check (50 checks, 64 KiB greeting each)', async () => {
    const { port, ends, closed } = await greeter(64 * 1024);
    for (let i = 1; i <= 50; i++) {
      expect(await knock('127.0.0.1', port, 5_000)).toBe(true);
      await closed(i);
    }
    expect(ends).toMatchObject({ clean: 50, reset: 0 });
  });

  it('a port nobody listens on: false', async () => {
    const { port } = await greeter(0);
    await new Promise<void>((resolve) => server!.close(() => resolve()));
    server = undefined;
    expect(await knock('127.0.0.1', port, 5_000)).toBe(false);
  });
});
