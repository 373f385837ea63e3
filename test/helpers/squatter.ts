import { spawn, type ChildProcess } from 'node:child_process';
import { childExit } from './env.js';

/** A foreign process listening on 127.0.0.1:port (not an exai daemon), as another program would. */
export async function squat(port: number): Promise<{ pid: number; child: ChildProcess; close(): Promise<void> }> {
  const script = `require('node:net').createServer((s) => s.destroy()).listen(${port}, '127.0.0.1', () => process.stdout.write('listening\\n'))`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('listening') && resolve());
    child.once('exit', (code) => reject(new Error(`squatter on ${port} exited ${code}: ${err}`)));
  });
  return {
    pid: child.pid!,
    child,
    async close() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await childExit(child);
      }
    },
  };
}
