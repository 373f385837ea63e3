import { connect } from 'node:net';

/** How long a checked peer may keep its side open after our FIN. */
const LINGER_MS = 500;

/**
 * Whether something accepts a TCP connection on host:port (a readiness check, a port probe),
 * closed the polite way: FIN after connect, and whatever the peer sends is read and dropped.
 * `destroy()` right after connect resets the connection (RST) when the peer has already written
 * to it, and a daemon that does not handle its sockets' errors dies of that ECONNRESET: seen
 * with a user's daemon that greets each connection, on a busy machine, right after the
 * readiness check passed.
 */
export function knock(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    // After connect an error (a reset by the peer) still means it answered: 'close' resolves true.
    let connected = false;
    socket.on('error', () => connected || resolve(false));
    socket.setTimeout(timeoutMs, () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('connect', () => {
      connected = true;
      socket.setTimeout(0);
      socket.resume();
      socket.end();
      // The answer waits for the peer to close its side on our FIN (at once, for nearly any
      // server): a caller that exits right after, with the peer's bytes unread, would reset the
      // connection after all. A peer that keeps its side open is let go after LINGER_MS.
      const linger = setTimeout(() => socket.destroy(), LINGER_MS);
      socket.once('close', () => {
        clearTimeout(linger);
        resolve(true);
      });
    });
  });
}
