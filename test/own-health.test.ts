/**
 * What a workspace's own daemon listens on, from /proc (src/start/own-health.ts on
 * src/common/proc-net.ts): `doctor` names side ports and non-loopback addresses, the way
 * EX-AI's daemons collided. A real child process tree, real sockets; Linux only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { listeningSockets, sideListeners } from '../src/start/own-health.js';

let child: ChildProcess | undefined;
afterEach(() => {
  // The tree is a process group of its own: the grandchild goes with its parent.
  if (child?.pid) process.kill(-child.pid, 'SIGKILL');
  child = undefined;
});

/** A daemon whose child (a grandchild of ours) holds the sockets: 127.0.0.1:0 and 0.0.0.0:0. */
async function daemonTree(): Promise<{ pid: number; ports: [number, number] }> {
  const grandchild = `
    const net = require('node:net');
    const a = net.createServer().listen(0, '127.0.0.1', () => {
      const b = net.createServer().listen(0, '0.0.0.0', () => console.log(JSON.stringify([a.address().port, b.address().port])));
    });`;
  const parent = `require('node:child_process').spawn(process.execPath, ['-e', ${JSON.stringify(grandchild)}], { stdio: ['ignore', 'inherit', 'inherit'] });`;
  child = spawn(process.execPath, ['-e', parent], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  const line = await new Promise<string>((resolve) => child!.stdout!.setEncoding('utf8').once('data', resolve));
  return { pid: child.pid!, ports: JSON.parse(line) as [number, number] };
}

describe.runIf(process.platform === 'linux')('own daemon listeners (/proc)', () => {
  it("finds the sockets of the daemon's whole process tree, and names the side port on a non-loopback address", async () => {
    const { pid, ports } = await daemonTree();
    const [main, side] = ports;
    const found = listeningSockets(pid)!;
    expect(found.map((l) => [l.address, l.port]).sort()).toEqual(
      [
        ['127.0.0.1', main],
        ['0.0.0.0', side],
      ].sort(),
    );
    expect(found.every((l) => l.pid !== pid)).toBe(true); // the grandchild holds them
    expect(sideListeners(found, main)).toMatch(new RegExp(`^it also listens on 0\\.0\\.0\\.0:${side} \\(beyond 127\\.0\\.0\\.1:${main}\\)`));
    expect(sideListeners(found.filter((l) => l.port === main), main)).toBeUndefined();
  });

  it('a process that listens on nothing: no sockets', () => {
    expect(listeningSockets(process.pid)?.filter((l) => l.pid === process.pid)).toEqual([]);
  });
});
