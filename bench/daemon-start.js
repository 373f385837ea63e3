/**
 * Section "daemon": how long a daemon takes to start, from the process spawn (with an IPC
 * channel and the daemon's node args, as pm2 forks it) until it sends 'ready' after listening:
 * what pm2 runs (dist/daemon/launcher.cjs: the bundle and its code cache, written by a first
 * start), `exai daemon` (the unbundled modules), and a bare node listener (the floor). Each
 * start gets a fresh port; the same EXAI_HOME (and so the same code cache) throughout.
 */
import { fork } from 'node:child_process';
import { join } from 'node:path';
import { CLI, DIST, ROOT, makeBenchEnv, sleep } from './lib/env.js';
import { freePort } from './lib/mcp.js';
import { fmtMs, fmtRatio, markdownTable, ratio, summarize } from './lib/stats.js';
import { appOptions } from '../dist/start/app.js';

/** The node args and the glibc setting pm2 starts a daemon with (src/start/app.ts). */
const APP = appOptions({ name: 'bench', workspace: ROOT, port: 1 }, ROOT);

const LISTENER = join(ROOT, 'bench', 'fixtures', 'listener.js');

async function startOnce(script, args, env, { linger = 0 } = {}) {
  const port = await freePort();
  const started = performance.now();
  const child = fork(script, args, {
    env: { ...env, MALLOC_ARENA_MAX: APP.env.MALLOC_ARENA_MAX, EXAI_WS_PORT: String(port), PORT: String(port) },
    stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
    execArgv: APP.node_args,
  });
  await new Promise((resolve, reject) => {
    child.on('message', (m) => m === 'ready' && resolve());
    child.on('exit', (code) => reject(new Error(`${script} exited ${code} before ready`)));
  });
  const ms = performance.now() - started;
  if (linger) await sleep(linger);
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await gone;
  return ms;
}

export async function run({ quick = false, log = () => {} } = {}) {
  const runs = quick ? 3 : 15;
  const e = makeBenchEnv('daemon');
  const env = { ...e.env, EXAI_WORKSPACE: e.workspace('daemon') };
  const launcher = DIST('daemon/launcher.cjs');
  const samples = { launcher: [], unbundled: [], floor: [] };
  try {
    // Warm-up: page cache, and the launcher's first start writes the code cache.
    await startOnce(launcher, [], env, { linger: 3_500 });
    await startOnce(CLI, ['daemon'], env);
    await startOnce(LISTENER, [], env);
    for (let i = 0; i < runs; i++) {
      if (i % 5 === 0) log(`daemon: ${i + 1}/${runs}`);
      samples.launcher.push(await startOnce(launcher, [], env));
      samples.unbundled.push(await startOnce(CLI, ['daemon'], env));
      samples.floor.push(await startOnce(LISTENER, [], env));
    }
  } finally {
    await e.cleanup();
  }
  const s = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, summarize(v)]));
  const r = { launcher: ratio(s.launcher.p50, s.floor.p50), unbundled: ratio(s.unbundled.p50, s.floor.p50) };
  const row = (name, st, x) => [name, fmtMs(st.p50), fmtMs(st.p99), st.n, x === undefined ? '' : fmtRatio(x)];
  const table = markdownTable(
    ['daemon start: spawn → ready (ms)', 'p50', 'p99', 'n', '/ floor (p50)'],
    [
      row('what pm2 runs: `dist/daemon/launcher.cjs` (bundle + code cache)', s.launcher, r.launcher),
      row('`exai daemon` (unbundled modules)', s.unbundled, r.unbundled),
      row('floor: bare node listener', s.floor),
    ],
  );
  return {
    title: 'Daemon start',
    note: `Forked with an IPC channel and ${APP.node_args.join(' ')}, as pm2 does; timed until the process sends 'ready' (after listen). Interleaved.`,
    table,
    data: { ms: s, ratios: r },
    targets: [],
  };
}
