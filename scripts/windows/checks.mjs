#!/usr/bin/env node
// The Windows-only checks of WINDOWS.md ("What Linux can test, and what needs a Windows
// runner"), as far as they can be scripted. Run by .github/workflows/windows.yml after the
// suite; prints one line per check (PASS / FAIL / SKIP and what was seen) and exits 1 when a
// check fails. Nothing here has run on Windows yet: the first runs are the verification.
//
//   node scripts/windows/checks.mjs [--only 3,13] [--json FILE] [--owns-pm2]
//
// --owns-pm2: this job started the machine's pm2 daemon (on Windows all PM2_HOMEs share one),
// so checks that need a cold pm2 may `pm2 kill` it. Without it those checks are skipped.
// Each check has its own EXAI_HOME, PM2_HOME and port range (claimed like the test suite's,
// in <tmpdir>/exai-test-ports), and deletes what it started.
import { randomBytes } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CLI, CheckEnv, ROOT, WIN, descendants, excludedPortRanges, hardKill, health, isAlive, must, pm2Gods, processes, run, sleep, treeKill, waitFor } from './lib.mjs';

const { values: opts } = parseArgs({ options: { only: { type: 'string' }, json: { type: 'string' }, 'owns-pm2': { type: 'boolean' } } });
const OWNS_PM2 = opts['owns-pm2'] ?? false;

const pass = (detail) => ({ status: 'PASS', detail });
const fail = (detail) => ({ status: 'FAIL', detail });
const skip = (detail) => ({ status: 'SKIP', detail });

/** On Windows a cold pm2 means killing the machine's only one: allowed only when this job owns it. */
async function coldPm2(e) {
  if (!WIN) return true;
  if (!OWNS_PM2) return false;
  await e.pm2(['kill']);
  return true;
}

/**
 * An npx upstream (a .cmd on Windows: cmd.exe and npx wrap the server) whose command lines carry
 * `marker`, so its processes can be told from every other server-everything on the machine.
 */
function everything(marker, cwd = ROOT) {
  return { command: 'npx', args: ['--no-install', 'mcp-server-everything', 'stdio', marker], ...(cwd ? { cwd } : {}) };
}
const withMarker = (marker) => processes().filter((p) => p.cmd.includes(marker)).length;

function writeServers(ws, servers) {
  mkdirSync(join(ws, '.exai'), { recursive: true });
  writeFileSync(join(ws, '.exai', 'servers.json'), JSON.stringify({ servers }, null, 2));
}

const CHECKS = [
  {
    id: '13',
    title: '20 concurrent `exai spawn` of two workspaces; lock-counter.mjs x20',
    async run(e) {
      const [a, b] = [e.workspace('a'), e.workspace('b')];
      const runs = await Promise.all(Array.from({ length: 20 }, (_, i) => e.exai(['spawn', '--workspace', i % 2 ? a : b, '--json', '--no-config'])));
      const failed = runs.filter((r) => r.code !== 0);
      if (failed.length) return fail(`${failed.length}/20 spawns failed, first: ${failed[0].stderr.trim()}`);
      const ports = new Map(runs.map((r) => JSON.parse(r.stdout)).map((o) => [o.workspace, o.port]));
      if (ports.size !== 2 || new Set(ports.values()).size !== 2) return fail(`expected 2 workspaces on 2 ports, got ${JSON.stringify([...ports])}`);
      const counter = join(e.dir, 'counter');
      writeFileSync(counter, '0');
      const counters = await Promise.all(Array.from({ length: 20 }, () => run(process.execPath, [join(ROOT, 'test', 'fixtures', 'lock-counter.mjs'), e.home, counter, '20'])));
      const bad = counters.find((r) => r.code !== 0);
      const value = Number(readFileSync(counter, 'utf8'));
      if (bad || value !== 400) return fail(`lock counter ${value}/400${bad ? `; a counter process failed: ${bad.stderr.trim()}` : ''}`);
      return pass(`20 spawns exit 0, 2 workspaces on ports ${[...ports.values()].join(', ')}; 20 processes x 20 locked increments = ${value}`);
    },
  },
  {
    id: '18',
    title: 'a foreign listener on 0.0.0.0:P before spawn: the workspace does not take P',
    async run(e) {
      const server = createServer();
      const bound = await new Promise((resolve) => {
        server.once('error', () => resolve(false));
        server.listen({ host: '0.0.0.0', port: e.base }, () => resolve(true));
      });
      if (!bound) return skip(`could not listen on 0.0.0.0:${e.base}`);
      try {
        const got = await e.spawn(e.workspace('wild'));
        return got.port === e.base ? fail(`the daemon took ${e.base}, where another program listens on 0.0.0.0`) : pass(`first candidate ${e.base} skipped, daemon on ${got.port}`);
      } finally {
        server.close();
      }
    },
  },
  {
    id: '3',
    title: 'taskkill /T /F of the shim that started pm2 leaves pm2 and the other workspaces up',
    async run(e) {
      if (!(await coldPm2(e))) return skip('needs --owns-pm2: a cold pm2 means killing the machine\'s only one');
      const [started, bystander] = [e.workspace('shim-started'), e.workspace('bystander')];
      const shim = spawn(process.execPath, [CLI, 'shim'], {
        env: { ...e.env, EXAI_WORKSPACE: started, EXAI_WS_PORT: String(e.base) },
        stdio: ['pipe', 'pipe', 'pipe'],
        windowsHide: true,
      });
      let out = '';
      shim.stdout.setEncoding('utf8').on('data', (d) => (out += d));
      shim.stdin.write(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'windows-checks', version: '0' } } }) + '\n');
      const answered = await waitFor(() => (out.includes('"id":1') ? true : undefined), 90_000);
      if (!answered) return (treeKill(shim.pid), fail('the shim did not answer initialize in 90 s'));
      const other = await e.spawn(bystander);
      const gods = pm2Gods(e.pm2Home);
      const inTree = gods.some((g) => descendants(shim.pid).includes(g));
      treeKill(shim.pid);
      let down = 0;
      for (let i = 0; i < 10; i++) {
        await sleep(500);
        if (!(await health(other.port))) down++;
      }
      const godAlive = gods.length > 0 && gods.every(isAlive);
      const detail = `pm2 (pids ${gods.join(', ') || 'none found'}) was ${inTree ? '' : 'not '}in the shim's process tree; after the tree kill: pm2 ${godAlive ? 'alive' : 'gone'}, the other workspace's /health failed ${down}/10 times over 5 s`;
      return godAlive && down === 0 ? pass(detail) : fail(detail);
    },
  },
  {
    id: '5',
    title: 'a workspace path over 260 characters',
    async run(e) {
      const ws = join(e.dir, 'long', ...Array.from({ length: 6 }, (_, i) => `${i}${'d'.repeat(44)}`));
      mkdirSync(ws, { recursive: true });
      const res = await e.exai(['spawn', '--workspace', ws, '--json', '--no-config']);
      if (res.code !== 0) return fail(`${ws.length}-character path: exai spawn exited ${res.code}: ${res.stderr.trim()}`);
      const { port } = JSON.parse(res.stdout);
      return (await health(port)) ? pass(`${ws.length}-character path: daemon healthy on ${port}`) : fail(`${ws.length}-character path: spawned but /health does not answer`);
    },
  },
  {
    id: '8/9/10',
    title: 'an npx upstream leaves no process behind after restart, a hard daemon kill, and stop',
    async run(e) {
      const ws = e.workspace('orphans');
      const marker = `exai-orphan-check-${randomBytes(4).toString('hex')}`;
      writeServers(ws, { every: everything(marker) });
      const first = await e.spawn(ws);
      const up = async () => (await e.list()).find((r) => r.id === first.id)?.upstreams?.find((u) => u.name === 'every')?.state === 'up';
      if ((await waitFor(async () => ((await up()) ? true : undefined), 60_000)) === undefined) return fail('the upstream never came up');
      // The processes of one running upstream (the server and its npx/cmd.exe wrappers).
      const chain = withMarker(marker);
      const counts = [];
      await e.exai(['restart', '--workspace', ws]);
      await waitFor(async () => ((await up()) ? true : undefined), 60_000);
      await sleep(5_000);
      counts.push(['restart', withMarker(marker)]);
      const before = (await health(first.port))?.pid;
      if (before) hardKill(before);
      await waitFor(async () => {
        const h = await health(first.port);
        return h && h.pid !== before && (await up()) ? true : undefined;
      }, 60_000);
      await sleep(5_000);
      counts.push([`${WIN ? 'taskkill /F' : 'SIGKILL'} of the daemon`, withMarker(marker)]);
      await e.exai(['stop', '--workspace', ws]);
      await sleep(5_000);
      counts.push(['stop', withMarker(marker)]);
      const detail = `one upstream is ${chain} process(es); ` + counts.map(([what, n]) => `after ${what}: ${n}`).join(', ') + ` (expected ${chain}, ${chain}, 0)`;
      return counts.map(([, n]) => n).join() === `${chain},${chain},0` ? pass(detail) : fail(detail);
    },
  },
  {
    id: '11',
    title: 'rename a workspace folder while its daemon runs',
    async run(e) {
      const ws = e.workspace('pinned');
      await e.spawn(ws);
      try {
        renameSync(ws, `${ws}-renamed`);
      } catch (err) {
        return fail(`rename refused (${err.code}): a process holds the folder (its cwd or an open handle)`);
      }
      renameSync(`${ws}-renamed`, ws);
      return pass('renamed and renamed back while the daemon ran');
    },
  },
  {
    id: '12',
    title: 'workspaces on a subst drive and on a mapped network drive (net use), with an npx upstream',
    windowsOnly: true,
    async run(e) {
      const free = 'ZYXWVUTSRQPONMLKJIHG'.split('').filter((l) => !existsSync(`${l}:\\`));
      if (free.length < 2) return skip('no two free drive letters');
      const [substLetter, netLetter] = free;
      const results = [];
      const real = e.workspace('drive');
      // npx finds the server through the workspace's node_modules (a junction to exai's own):
      // what breaks when cmd.exe, refusing a UNC cwd, starts in C:\Windows instead (WINDOWS.md #12).
      const modules = join(real, 'node_modules');
      symlinkSync(join(ROOT, 'node_modules'), modules, 'junction');
      writeServers(real, { every: everything('exai-drive-check', null) });
      try {
        must('subst', [`${substLetter}:`, real]);
        try {
          results.push(['subst', await driveResult(e, `${substLetter}:\\`)]);
        } finally {
          spawnSync('subst', [`${substLetter}:`, '/D'], { windowsHide: true });
        }
        if (!/^[A-Za-z]:/.test(real)) return skip(`the temp dir ${real} has no drive letter`);
        must('net', ['use', `${netLetter}:`, `\\\\localhost\\${real[0]}$`]);
        try {
          results.push(['net use', await driveResult(e, `${netLetter}:${real.slice(2)}`)]);
        } finally {
          spawnSync('net', ['use', `${netLetter}:`, '/delete', '/y'], { windowsHide: true });
        }
      } finally {
        unlinkSync(modules); // the junction only, never what it points at
      }
      const detail = results.map(([kind, r]) => `${kind}: ${r.detail}`).join('; ');
      return results.every(([, r]) => r.ok) ? pass(detail) : fail(detail);
    },
  },
  {
    id: '14',
    title: 'the tokens folder of an EXAI_HOME under C:\\ is not readable by other users (icacls)',
    windowsOnly: true,
    async run(e) {
      const home = `C:\\exai-ci-${randomBytes(4).toString('hex')}`;
      const env = { ...e.env, EXAI_HOME: home };
      try {
        const res = await e.exai(['spawn', '--workspace', e.workspace('acl'), '--json', '--no-config'], env);
        if (res.code !== 0) return fail(`exai spawn exited ${res.code}: ${res.stderr.trim()}`);
        const acl = must('icacls', [join(home, 'tokens')]);
        const others = /BUILTIN\\Users|Authenticated Users|Everyone/i.test(acl);
        const summary = acl.trim().split(/\r?\n/).slice(0, 4).join(' | ');
        return others ? fail(`others can read the tokens: ${summary}`) : pass(summary);
      } finally {
        await e.exai(['remove', '--all'], env);
        rmSync(home, { recursive: true, force: true });
      }
    },
  },
  {
    id: '17',
    title: 'the sticky port inside an excluded port range: the daemon exits 98 once (no restart loop) and spawn moves it',
    windowsOnly: true,
    async run(e) {
      const ws = e.workspace('excluded');
      const first = await e.spawn(ws);
      await e.exai(['stop', '--workspace', ws]);
      const P = first.port;
      const range = ['int', 'ipv4', '%s', 'excludedportrange', 'protocol=tcp', `startport=${P}`, 'numberofports=1', 'store=active'];
      const add = spawnSync('netsh', range.map((a) => a.replace('%s', 'add')), { encoding: 'utf8', windowsHide: true });
      if (add.status !== 0) return skip(`netsh could not reserve ${P} (admin needed?): ${add.stdout.trim()}`);
      try {
        await e.pm2(['restart', first.name]);
        await sleep(10_000);
        const line = (await e.pm2(['jlist'])).stdout.split('\n').find((l) => l.startsWith('['));
        const app = JSON.parse(line ?? '[]').find((a) => a.name === first.name);
        const restarts = app?.pm2_env?.restart_time ?? -1;
        const errLog = existsSync(app?.pm2_env?.pm_err_log_path ?? '') ? readFileSync(app.pm2_env.pm_err_log_path, 'utf8') : '';
        const moved = await e.exai(['spawn', '--workspace', ws, '--json', '--no-config']);
        const newPort = moved.code === 0 ? JSON.parse(moved.stdout).port : undefined;
        const detail = `pm2 restart on a reserved ${P}: status ${app?.pm2_env?.status}, ${restarts} restart(s), err log ${/EACCES/.test(errLog) ? 'names EACCES' : 'has no EACCES'}; exai spawn ${newPort ? `moved it to ${newPort}` : `exited ${moved.code}: ${moved.stderr.trim()}`}`;
        return restarts >= 0 && restarts <= 2 && newPort && newPort !== P ? pass(detail) : fail(detail);
      } finally {
        spawnSync('netsh', range.map((a) => a.replace('%s', 'delete')), { windowsHide: true });
      }
    },
  },
  {
    id: '20',
    title: 'README\'s logon task command (exai list) brings the fleet back after pm2 is gone',
    windowsOnly: true,
    async run(e) {
      const ws = e.workspace('logon');
      const { port } = await e.spawn(ws);
      if (!(await coldPm2(e))) return skip('needs --owns-pm2: the check kills the machine\'s pm2');
      await waitFor(async () => ((await health(port)) ? undefined : true), 30_000);
      const cmdFile = join(e.dir, 'exai-resurrect.cmd');
      const log = join(e.dir, 'resurrect.log');
      writeFileSync(cmdFile, ['@echo off', `set "EXAI_HOME=${e.home}"`, `set "PM2_HOME=${e.pm2Home}"`, `"${process.execPath}" "${CLI}" list > "${log}" 2>&1`, ''].join('\r\n'));
      const task = `exai-ci-${randomBytes(3).toString('hex')}`;
      must('schtasks', ['/Create', '/TN', task, '/TR', `"${cmdFile}"`, '/SC', 'ONLOGON', '/F']);
      try {
        must('schtasks', ['/Run', '/TN', task]);
        const back = await waitFor(async () => ((await health(port)) ? true : undefined), 120_000, 1_000);
        const said = existsSync(log) ? readFileSync(log, 'utf8').trim().split(/\r?\n/).slice(0, 3).join(' | ') : 'no log written';
        return back ? pass(`the task's \`exai list\` brought the workspace back on ${port}`) : fail(`not back within 120 s (task output: ${said}; the runner may lack an interactive logon session)`);
      } finally {
        spawnSync('schtasks', ['/Delete', '/TN', task, '/F'], { windowsHide: true });
      }
    },
  },
  {
    id: '21',
    title: '`exai list` with 20 workspaces (target: 1 s)',
    ports: 250,
    async run(e) {
      const dirs = Array.from({ length: 20 }, (_, i) => e.workspace(`fleet${i}`));
      for (let i = 0; i < dirs.length; i += 4) await Promise.all(dirs.slice(i, i + 4).map((d) => e.spawn(d)));
      const times = [];
      let rows = [];
      for (let i = 0; i < 5; i++) {
        const res = await e.exai(['list', '--json']);
        if (res.code !== 0) return fail(`exai list exited ${res.code}: ${res.stderr.trim()}`);
        times.push(res.ms);
        rows = JSON.parse(res.stdout);
      }
      const median = [...times].sort((a, b) => a - b)[2];
      const zeroMetrics = rows.filter((r) => r.memory === 0).length;
      const detail = `median ${median} ms over 5 runs (${times.join(', ')}); ${rows.filter((r) => r.healthy).length}/20 healthy; memory reported 0 for ${zeroMetrics}`;
      return median <= 1_000 && zeroMetrics === 0 ? pass(detail) : fail(detail);
    },
  },
  {
    id: '23',
    title: 'each client (VS Code, Cursor, Claude Code) starts the shim from its config; no console window flashes',
    windowsOnly: true,
    run: async () => skip('needs the editors installed and a desktop session: manual'),
  },
];

/** The workspace at `path` (on a subst or mapped drive): healthy, and its npx upstream up. */
async function driveResult(e, path) {
  const res = await e.exai(['spawn', '--workspace', path, '--json', '--no-config']);
  if (res.code !== 0) return { ok: false, detail: `exai spawn exited ${res.code}: ${res.stderr.trim()}` };
  const got = JSON.parse(res.stdout);
  const up = await waitFor(async () => {
    const row = (await e.list()).find((r) => r.id === got.id);
    const every = row?.upstreams?.find((u) => u.name === 'every');
    return every && every.state !== 'starting' ? every : undefined;
  }, 60_000);
  await e.exai(['remove', '--workspace', path]);
  const upstream = up ? `${up.state}${up.lastError ? ` (${up.lastError})` : ''}` : 'no status';
  return { ok: up?.state === 'up', detail: `registered as ${got.workspace}, upstream ${upstream}` };
}

// Test port blocks are claimed machine-wide like test/helpers/env.ts does, skipping reserved ranges.
function claimPorts(needed) {
  const claims = join(tmpdir(), 'exai-test-ports');
  mkdirSync(claims, { recursive: true });
  const reserved = excludedPortRanges();
  for (let block = 10; block <= 31; block++) {
    const [low, high] = [block * 1_000, block * 1_000 + 999];
    if (needed > 1_000 || reserved.some((r) => r.start <= high && r.end >= low)) continue;
    const file = join(claims, `${block}.claim`);
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
    } catch {
      const holder = Number(readFileSync(file, 'utf8'));
      if (holder && isAlive(holder)) continue;
      writeFileSync(file, String(process.pid));
    }
    return { base: low, release: () => rmSync(file, { force: true }) };
  }
  throw new Error('no free test port block in 10000..31999');
}

const only = opts.only ? new Set(opts.only.split(',').map((s) => s.trim())) : undefined;
const selected = CHECKS.filter((c) => !only || only.has(c.id));
const spans = selected.map((c) => c.ports ?? 50);
const ports = claimPorts(spans.reduce((a, b) => a + b, 0));
const root = realpathSync(mkdtempSync(join(tmpdir(), 'exai-wincheck-')));
const results = [];
let offset = 0;
try {
  for (const [i, check] of selected.entries()) {
    const e = new CheckEnv(join(root, `check-${check.id.replace(/\W/g, '-')}`), ports.base + offset);
    offset += spans[i];
    const started = Date.now();
    let result;
    try {
      result = check.windowsOnly && !WIN ? skip('Windows only') : await check.run(e);
    } catch (err) {
      result = fail(`threw: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      await e.cleanup().catch(() => undefined);
    }
    results.push({ id: check.id, title: check.title, ...result, ms: Date.now() - started });
    console.log(`${result.status.padEnd(4)}  #${check.id.padEnd(6)} ${check.title}\n        ${result.detail}`);
  }
} finally {
  ports.release();
  rmSync(root, { recursive: true, force: true, maxRetries: 5 });
}
if (opts.json) writeFileSync(opts.json, JSON.stringify({ platform: process.platform, node: process.version, results }, null, 2) + '\n');
const failed = results.filter((r) => r.status === 'FAIL').length;
console.log(`\n${results.length} checks: ${results.filter((r) => r.status === 'PASS').length} passed, ${failed} failed, ${results.filter((r) => r.status === 'SKIP').length} skipped`);
process.exitCode = failed ? 1 : 0;
