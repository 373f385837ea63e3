/**
 * A workspace's own daemon (.exai/daemon.json; issue 25) through every start path: `exai
 * restart`, the fleet brought back after pm2 died, `pm2 start ecosystem.config.js` and `pm2
 * resurrect` run the same daemon on the same port with the value passed at spawn, which pm2
 * never holds; an edited daemon.json restarts it; remove deletes what exai made for it.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { connect as connectTcp } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeDaemon } from './own-daemon-helpers.js';
import { makeTestEnv, pm2Kill, ROOT, runCli, runPm2, spawnJson, waitFor, type TestEnv } from './helpers/env.js';

describe('every start path runs the same own daemon, with the value passed at spawn', () => {
  const SECRET = 'k-25-passed-at-spawn';
  let u: TestEnv;
  let ws: string;
  let port: number;
  let otherShell: NodeJS.ProcessEnv;

  /** What the daemon says to a connect: the passed value, as its env holds it. */
  const said = () =>
    new Promise<string>((resolve, reject) => {
      let text = '';
      const socket = connectTcp({ host: '127.0.0.1', port });
      socket.setEncoding('utf8').on('data', (d: string) => (text += d));
      socket.on('end', () => resolve(text.trim()));
      socket.on('error', reject);
    });
  const expectServing = async (path: string) => {
    expect(await waitFor(() => said().catch(() => undefined), { what: `the daemon after ${path}`, timeoutMs: 30_000 }), path).toBe(SECRET);
    const jlist = await runPm2(['jlist'], u.env);
    expect(jlist.stdout, path).not.toContain(SECRET);
  };

  beforeAll(async () => {
    u = makeTestEnv();
    ws = u.workspace('paths');
    writeFileSync(join(ws, 'daemon.cjs'), "require('node:net').createServer((s) => s.end(process.env.FROM_SPAWN + '\\n')).listen(Number(process.env.PORT), '127.0.0.1')");
    writeDaemon(ws, { command: process.execPath, args: ['daemon.cjs'], env: { PORT: '${port}', FROM_SPAWN: '${env:MY_KEY}' }, ready: { tcp: true }, client: { command: 'shim' } });
    port = (await spawnJson({ ...u.env, MY_KEY: SECRET }, ws)).port;
    otherShell = { ...u.env, MY_KEY: undefined, PATH: `/nonexistent:${process.env.PATH}` };
    await expectServing('exai spawn');
  });
  afterAll(async () => {
    await u?.cleanup();
  });

  it('exai restart from a shell without the variable', async () => {
    const res = await runCli(['restart', '--workspace', ws], otherShell);
    expect(res.code, res.stderr).toBe(0);
    await expectServing('exai restart');
  });

  it('the fleet brought back by the next exai command after pm2 died', async () => {
    await pm2Kill(u.pm2Home);
    const res = await runCli(['list', '--json'], otherShell);
    expect(res.code, res.stderr).toBe(0);
    await expectServing('the fleet came back');
  });

  it('pm2 start ecosystem.config.js after pm2 died', async () => {
    await pm2Kill(u.pm2Home);
    const res = await runPm2(['start', join(ROOT, 'ecosystem.config.js')], otherShell);
    expect(res.code, res.stderr).toBe(0);
    await expectServing('pm2 start ecosystem.config.js');
  });

  it('pm2 save, pm2 kill, pm2 resurrect', async () => {
    expect((await runPm2(['save'], u.env)).code).toBe(0);
    await pm2Kill(u.pm2Home);
    const res = await runPm2(['resurrect'], otherShell);
    expect(res.code, res.stderr).toBe(0);
    await expectServing('pm2 resurrect');
  });

  it('an edited daemon.json restarts it at the next spawn; remove deletes its launch and state dir', async () => {
    const first = await spawnJson(otherShell, ws);
    expect(first.reused).toBe(true);
    const file = join(ws, '.exai', 'daemon.json');
    writeFileSync(file, readFileSync(file, 'utf8').replace('"tcp": true', '"tcp": true, "timeout": "20s"'));
    type Doc = { findings: { scope: string; check: string; status: string; message: string }[] };
    const doc = JSON.parse((await runCli(['doctor', '--json'], u.env)).stdout) as Doc;
    expect(doc.findings.find((f) => f.scope === ws && f.check === 'daemon')).toMatchObject({ status: 'problem', message: expect.stringContaining('another .exai/daemon.json') });
    const second = await spawnJson(otherShell, ws);
    expect(second).toMatchObject({ reused: false, port });
    await expectServing('spawn after the edit');
    const res = await runCli(['remove', '--workspace', ws], u.env);
    expect(res.code, res.stderr).toBe(0);
    expect(existsSync(join(u.home, 'state', first.id))).toBe(false);
    expect(existsSync(join(u.home, 'tokens', `${first.id}.daemon.json`))).toBe(false);
    expect(existsSync(ws)).toBe(true);
  });
});
