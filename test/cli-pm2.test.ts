import { spawn } from 'node:child_process';
import { cpSync, existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ListRow as Row } from '../src/fleet/list.js';
import type { Finding } from '../src/fleet/doctor.js';
import { makeTestEnv, PM2_BIN, pm2Apps, pm2Kill, ROOT, runCli, runPm2, spawnJson, waitFor, type TestEnv } from './helpers/env.js';

let t: TestEnv;
/**
 * The test env with a PATH that holds node and nothing else: no global pm2 to fall back on.
 * (On Windows pm2 needs the system folders on PATH; the CI machine has no global pm2.)
 */
let bare: NodeJS.ProcessEnv;
beforeAll(() => {
  t = makeTestEnv();
  bare = process.platform === 'win32' ? t.env : { ...t.env, PATH: dirname(process.execPath) };
});
afterAll(async () => {
  await t.cleanup();
});

const INSTALLED = (JSON.parse(readFileSync(join(ROOT, 'node_modules', 'pm2', 'package.json'), 'utf8')) as { version: string }).version;

async function ok(args: string[], env = bare) {
  const res = await runCli(args, env);
  if (res.code !== 0) throw new Error(`exai ${args.join(' ')} failed (${res.code}): ${res.stderr}${res.stdout}`);
  return res;
}

/**
 * Starts the pm2 daemon of this test's PM2_HOME from a pm2 that reports `version`: exai's own
 * pm2 copied with another version in its package.json (what the daemon's getVersion reads), the
 * situation a global pm2 of another version creates. Its dependencies resolve to exai's.
 */
async function startOtherPm2Daemon(version: string): Promise<void> {
  const root = join(t.dir, `pm2-${version}`);
  const pkgDir = join(root, 'pm2');
  cpSync(dirname(dirname(PM2_BIN)), pkgDir, { recursive: true, dereference: true });
  symlinkSync(join(ROOT, 'node_modules'), join(root, 'node_modules'), 'junction'); // type only matters on Windows: a junction needs no privilege
  const pkgFile = join(pkgDir, 'package.json');
  writeFileSync(pkgFile, JSON.stringify({ ...(JSON.parse(readFileSync(pkgFile, 'utf8')) as object), version }));
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, [join(pkgDir, 'bin', 'pm2'), 'ping'], { env: t.env, stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`pm2 ${version} ping exited ${code}`))));
  });
}

async function pm2Finding(): Promise<Finding> {
  const res = await runCli(['doctor', '--json'], bare);
  return (JSON.parse(res.stdout) as { findings: Finding[] }).findings.find((f) => f.scope === 'pm2')!;
}

describe('exai pm2: the pm2 exai drives, without a global pm2 (issue 15 item 6)', () => {
  it('runs exai’s own pm2 with exai’s PM2_HOME; output and exit code are pm2’s', async () => {
    const dir = t.workspace('pm2-pass');
    const r = JSON.parse((await ok(['spawn', '-w', dir, '--json'])).stdout) as { name: string; pid: number };

    expect((await runCli(['pm2', '--version'], bare)).stdout.trim().split('\n').at(-1)).toBe(INSTALLED);
    const jlist = (await ok(['pm2', 'jlist'])).stdout;
    const apps = JSON.parse(jlist.split('\n').find((l) => l.startsWith('['))!) as { name: string; pid: number }[];
    expect(apps.find((a) => a.name === r.name)?.pid).toBe(r.pid);
    expect((await ok(['pm2', 'ls'])).stdout).toContain(r.name);
    const shown = await ok(['pm2', 'show', r.name]);
    expect(shown.stdout).toContain(dir);

    // pm2's own exit code for a process it does not know, passed through unchanged.
    const direct = await runPm2(['describe', 'no-such-app'], t.env);
    const passed = await runCli(['pm2', 'describe', 'no-such-app'], bare);
    expect(direct.code).not.toBe(0);
    expect(passed.code).toBe(direct.code);
    // `--help` belongs to pm2 here, not to exai.
    expect((await runCli(['pm2', '--help'], bare)).stdout).toMatch(/Usage: pm2/);
  });

  it('README, verbatim from the exai folder: `exai pm2 start ecosystem.config.js` brings the fleet back after `exai pm2 kill`', async () => {
    const dir = t.workspace('pm2-eco');
    await ok(['spawn', '-w', dir]);
    expect((await runCli(['pm2', 'kill'], bare)).code).toBe(0);
    const started = await runCli(['pm2', 'start', 'ecosystem.config.js'], bare, { cwd: ROOT });
    expect(started.code, started.stderr).toBe(0);
    await waitFor(
      async () => {
        const rows = JSON.parse((await ok(['list', '--json'])).stdout) as Row[];
        return rows.find((x) => x.workspace === dir && x.healthy);
      },
      { what: 'the workspace back from ecosystem.config.js', timeoutMs: 60_000 },
    );
  });
});

describe('doctor and a pm2 daemon of another version (issue 15 item 6)', () => {
  it('an older in-memory pm2: doctor says `exai pm2 update`, and that brings exai’s pm2 and every daemon back', async () => {
    await pm2Kill(t.pm2Home);
    await startOtherPm2Daemon('6.0.14');
    const dir = t.workspace('pm2-old');
    const before = JSON.parse((await ok(['spawn', '-w', dir, '--json'])).stdout) as { port: number; pid: number };

    const finding = await pm2Finding();
    expect(finding).toMatchObject({ status: 'problem', check: 'version' });
    expect(finding.message).toContain('6.0.14');
    expect(finding.message).toContain(INSTALLED);
    expect(finding.fix).toMatch(/^exai pm2 update /);
    expect(finding.fix).not.toContain('PM2_HOME of its own');

    const update = await runCli(['pm2', 'update'], bare);
    expect(update.code, update.stderr + update.stdout).toBe(0);
    expect(await pm2Finding()).toMatchObject({ status: 'ok', message: expect.stringContaining(INSTALLED) as string });
    const row = await waitFor(
      async () => {
        const rows = JSON.parse((await ok(['list', '--json'])).stdout) as Row[];
        const r = rows.find((x) => x.workspace === dir);
        return r?.healthy ? r : undefined;
      },
      { what: 'the workspace daemon back after pm2 update', timeoutMs: 60_000 },
    );
    expect(row.port).toBe(before.port);
    expect(row.pid).not.toBe(before.pid);
  }, 120_000); // two pm2 daemons started and one killed, a daemon brought back: ~20 s alone

  it('a newer in-memory pm2 (a global one): the same command, and the way to keep exai apart', async () => {
    await pm2Kill(t.pm2Home);
    await startOtherPm2Daemon('99.1.0');
    const finding = await pm2Finding();
    expect(finding).toMatchObject({ status: 'problem', check: 'version' });
    expect(finding.message).toContain('99.1.0');
    expect(finding.fix).toMatch(/^exai pm2 update /);
    expect(finding.fix).toContain('PM2_HOME of its own');
  });
});

describe('after `pm2 kill` (issue 19 item 8)', () => {
  let u: TestEnv;
  beforeAll(() => {
    u = makeTestEnv();
  });
  afterAll(async () => {
    await u.cleanup();
  });
  const names = async () => new Set((await pm2Apps(u.env)).filter((a) => a.pm2_env.status === 'online').map((a) => a.name));

  it('`exai pm2 jlist` brings the fleet back first and says so on stderr; `pm2 kill` itself does not start it', async () => {
    const a = await spawnJson(u.env, u.workspace('kill-a'));
    const b = await spawnJson(u.env, u.workspace('kill-b'));
    expect((await runCli(['pm2', 'kill'], u.env)).code).toBe(0);
    expect(existsSync(join(u.pm2Home, 'pm2.pid'))).toBe(false); // `kill` did not bring anything back

    const res = await runCli(['pm2', 'jlist'], u.env);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toContain('exai: pm2 was not running; brought back 2 workspaces');
    const apps = JSON.parse(res.stdout.split('\n').find((l) => l.startsWith('['))!) as { name: string }[];
    expect(apps.map((x) => x.name).sort()).toEqual([a.name, b.name].sort());
    // pm2 running: nothing to say.
    expect((await runCli(['pm2', 'ping'], u.env)).stderr).not.toContain('brought back');
  }, 90_000);

  it('`exai list` after something else restarted pm2 empty: `exai restart --all` is suggested and brings them back', async () => {
    await pm2Kill(u.pm2Home);
    expect((await runPm2(['ping'], u.env)).code).toBe(0); // pm2 up again, with none of exai's apps
    expect((await names()).size).toBe(0);
    const list = await runCli(['list'], u.env);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stderr).not.toContain('brought back'); // pm2 was running: exai restores nothing itself
    expect(list.stdout).toMatch(/^ {2}exai restart --all {4}\(all 2 not started at once/m);
    const restart = await runCli(['restart', '--all'], u.env);
    expect(restart.code, restart.stderr).toBe(0);
    expect((await names()).size).toBe(2);
  }, 90_000);

  it('`exai list` after `pm2 kill`: one line before the wait and one after', async () => {
    await pm2Kill(u.pm2Home);
    const list = await runCli(['list', '--json'], u.env);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stderr.trim().split('\n')).toEqual(['exai: pm2 was not running; bringing back 2 workspaces…', 'exai: pm2 was not running; brought back 2 workspaces']);
    expect((JSON.parse(list.stdout) as Row[]).every((r) => r.healthy)).toBe(true);
  }, 90_000);
});

describe('a PM2_HOME too long for pm2’s sockets (issue 19 item 10)', () => {
  it('is refused at once with one line naming the limit and the path, and no pm2 daemon is left behind', async () => {
    const u = makeTestEnv();
    try {
      const long = join(u.dir, 'p'.repeat(Math.max(1, 120 - u.dir.length)));
      const env = { ...u.env, PM2_HOME: long };
      const dir = u.workspace('long-pm2');
      for (const args of [['spawn', '-w', dir], ['pm2', 'ls']]) {
        const started = Date.now();
        const res = await runCli(args, env);
        expect(res.code, `exai ${args.join(' ')}`).toBe(1);
        expect(Date.now() - started).toBeLessThan(10_000); // was 30 s
        const lines = res.stderr.trim().split('\n');
        expect(lines).toHaveLength(1);
        expect(lines[0]).toContain(`${join(long, 'rpc.sock')}`);
        expect(lines[0]).toContain(process.platform === 'darwin' ? '103-byte limit' : '107-byte limit');
      }
      expect(existsSync(join(long, 'pm2.pid'))).toBe(false);
    } finally {
      await u.cleanup();
    }
  });
});
