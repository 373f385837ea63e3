/**
 * WINDOWS.md #22: on Windows the shim's stdout (a pipe) is synchronous, so one large MCP reply
 * written in one call holds the event loop until the editor has read it all: WebSocket pongs
 * and stdin wait meanwhile. The shim writes large frames in slices with a turn of the event loop
 * between them. Tested with a synchronous Writable as stdout (each write is done when it
 * returns, as on a Windows pipe).
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { claimStdout } from '../../src/shim/stdout.js';

/** A stdout whose writes complete synchronously; `log` records slices and event-loop turns in order. */
function syncStdout(log: string[], sink: Buffer[]): NodeJS.WriteStream {
  const out = new Writable({
    highWaterMark: 16 * 1024,
    write(chunk: Buffer, _encoding, callback) {
      sink.push(chunk);
      log.push(`slice ${chunk.length}`);
      callback();
    },
  });
  return out as unknown as NodeJS.WriteStream;
}

function writeFrame(protocol: Writable, frame: Buffer): Promise<void> {
  return new Promise((resolve, reject) => protocol.write(frame, (err) => (err ? reject(err) : resolve())));
}

/** Records an event-loop turn (a setImmediate) until stopped: what a ws pong or stdin read would get. */
function turns(log: string[]): () => void {
  let stopped = false;
  const tick = () => {
    if (stopped) return;
    log.push('turn');
    setImmediate(tick);
  };
  setImmediate(tick);
  return () => {
    stopped = true;
  };
}

describe('large frames on a synchronous stdout leave the event loop turns (WINDOWS.md #22)', () => {
  it('on win32 a 1 MiB reply goes out in 64 KiB slices with event-loop turns between them, bytes and order intact', async () => {
    const log: string[] = [];
    const sink: Buffer[] = [];
    const stderr = new Writable({ write: (_c, _e, cb) => cb() }) as unknown as NodeJS.WriteStream;
    const protocol = claimStdout(syncStdout(log, sink), stderr, 'win32');
    const frame = Buffer.alloc(1024 * 1024 + 7, 'a');
    const stop = turns(log);
    await Promise.all([writeFrame(protocol, frame), writeFrame(protocol, Buffer.from('{"next":1}\n'))]);
    stop();
    const slices = log.filter((e) => e.startsWith('slice'));
    expect(slices.length).toBe(18); // 16 full slices, the 7-byte rest, the small frame
    const first = log.indexOf('slice 65536');
    const last = log.lastIndexOf('slice 7');
    const turnsWhileWriting = log.slice(first, last).filter((e) => e === 'turn').length;
    expect(turnsWhileWriting).toBeGreaterThanOrEqual(16);
    expect(Buffer.concat(sink).equals(Buffer.concat([frame, Buffer.from('{"next":1}\n')]))).toBe(true);
  });

  it('on Linux (asynchronous pipes) a frame is still one write', async () => {
    const log: string[] = [];
    const sink: Buffer[] = [];
    const stderr = new Writable({ write: (_c, _e, cb) => cb() }) as unknown as NodeJS.WriteStream;
    const protocol = claimStdout(syncStdout(log, sink), stderr, 'linux');
    await writeFrame(protocol, Buffer.alloc(1024 * 1024, 'b'));
    expect(log.filter((e) => e.startsWith('slice'))).toEqual([`slice ${1024 * 1024}`]);
  });
});
