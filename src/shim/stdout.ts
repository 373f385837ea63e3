import { Writable } from 'node:stream';

/**
 * Takes stdout for the protocol alone. Whatever else in the process writes to stdout (a
 * library's console.log, pm2's "Spawning PM2 daemon" when the shim starts the daemon) is
 * sent to stderr instead: one stray line on stdout breaks the editor's MCP session.
 * Returns the only writer of the real stdout, with its backpressure and errors.
 */
export function claimStdout(stdout: NodeJS.WriteStream = process.stdout, stderr: NodeJS.WriteStream = process.stderr): Writable {
  const realWrite = stdout.write.bind(stdout) as (chunk: Buffer, cb: (err?: Error | null) => void) => boolean;
  const divert = (...args: Parameters<typeof stdout.write>): boolean =>
    (stderr.write as (...a: Parameters<typeof stdout.write>) => boolean)(...args);
  stdout.write = divert as typeof stdout.write;
  const protocol = new Writable({
    highWaterMark: stdout.writableHighWaterMark,
    write(chunk: Buffer, _encoding, callback) {
      realWrite(chunk, (err) => callback(err ?? null));
    },
  });
  stdout.on('error', (err) => protocol.destroy(err));
  // The bridge listens while it runs; a broken pipe after it stopped must not crash the exit.
  protocol.on('error', () => {});
  return protocol;
}
