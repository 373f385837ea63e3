import { Writable } from 'node:stream';

/**
 * On Windows, writes to a pipe are synchronous (Node, "A note on process I/O"), and pm2's API
 * forces stdout blocking there when the shim loads it: one large reply would hold the event
 * loop until the editor has read all of it, stalling WebSocket pongs and stdin meanwhile
 * (WINDOWS.md #22). Chunks above this size are written in slices with a turn of the event loop
 * (setImmediate) between them.
 */
const SLICE_BYTES = 64 * 1024;

/**
 * Takes stdout for the protocol alone. Whatever else in the process writes to stdout (a
 * library's console.log, pm2's "Spawning PM2 daemon" when the shim starts the daemon) is
 * sent to stderr instead: one stray line on stdout breaks the editor's MCP session.
 * Returns the only writer of the real stdout, with its backpressure and errors. On win32
 * large chunks go out in slices (SLICE_BYTES); `platform` is for tests.
 */
export function claimStdout(
  stdout: NodeJS.WriteStream = process.stdout,
  stderr: NodeJS.WriteStream = process.stderr,
  platform: NodeJS.Platform = process.platform,
): Writable {
  const realWrite = stdout.write.bind(stdout) as (chunk: Buffer, cb: (err?: Error | null) => void) => boolean;
  const divert = (...args: Parameters<typeof stdout.write>): boolean =>
    (stderr.write as (...a: Parameters<typeof stdout.write>) => boolean)(...args);
  stdout.write = divert as typeof stdout.write;
  const slice = platform === 'win32' ? SLICE_BYTES : Number.POSITIVE_INFINITY;
  const protocol = new Writable({
    highWaterMark: stdout.writableHighWaterMark,
    write(chunk: Buffer, _encoding, callback) {
      let offset = 0;
      const next = (): void => {
        const part = chunk.length - offset <= slice ? chunk.subarray(offset) : chunk.subarray(offset, offset + slice);
        offset += part.length;
        realWrite(part, (err) => {
          if (err) callback(err);
          else if (offset >= chunk.length) callback(null);
          else setImmediate(next);
        });
      };
      next();
    },
  });
  stdout.on('error', (err) => protocol.destroy(err));
  // The bridge listens while it runs; a broken pipe after it stopped must not crash the exit.
  protocol.on('error', () => {});
  return protocol;
}
