/**
 * Section "idle": what a fleet costs when nobody uses it. 50 workspaces registered with a short
 * --idle-timeout, each spawned (daemon online, answering), then left alone until every daemon
 * has exited idle (`exai list` says idle). Then: every process pm2 runs for exai (the pm2
 * daemon's descendants: daemons, upstream servers) with its RSS and PSS; pm2's own daemon is
 * reported beside, not counted (it is what brings them back). Also `exai list` over the idle
 * fleet. The cost of the same fleet running is the "Fleet scale" section's.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { exai, makeBenchEnv, sleep } from './lib/env.js';
import { descendants, memoryOf, totalMemory } from './lib/mem.js';
import { fmtMB, fmtMs, markdownTable, summarize } from './lib/stats.js';

const IDLE = '2s';

export async function run({ quick = false, log = () => {} } = {}) {
  const count = quick ? 5 : 50;
  const e = makeBenchEnv('idle');
  let measured;
  try {
    for (let i = 1; i <= count; i++) {
      if (i === 1 || i % 10 === 0) log(`idle: spawning workspace ${i}/${count}`);
      const out = JSON.parse((await exai(['spawn', '--workspace', e.workspace(`idle-${String(i).padStart(2, '0')}`), '--idle-timeout', IDLE, '--json'], e.env)).stdout);
      if (out.status !== 'online') throw new Error(`idle: workspace ${i} came back ${out.status}`);
    }
    log('idle: waiting for every daemon to exit idle');
    const deadline = Date.now() + 120_000;
    let rows = [];
    for (;;) {
      rows = JSON.parse((await exai(['list', '--json'], e.env)).stdout);
      if (rows.length === count && rows.every((r) => r.status === 'idle')) break;
      if (Date.now() > deadline) throw new Error(`idle: after 120 s: ${rows.filter((r) => r.status !== 'idle').length} of ${rows.length} not idle`);
      await sleep(1_000);
    }
    const pm2Pid = Number(readFileSync(join(e.pm2Home, 'pm2.pid'), 'utf8').trim());
    const fleet = totalMemory(descendants(pm2Pid));
    const pm2 = memoryOf(pm2Pid);
    const listMs = [];
    for (let i = 0; i < 5; i++) listMs.push((await exai(['list', '--json'], e.env)).ms);
    measured = { count, fleet, pm2, listMs: summarize(listMs) };
  } finally {
    await e.cleanup();
  }
  const { fleet, pm2 } = measured;
  const table =
    markdownTable(
      [`${count} idle workspaces`, 'processes', 'RSS (MB)', 'PSS (MB)'],
      [
        ['exai (daemons, upstream servers) beyond pm2', fleet.processes, fmtMB(fleet.rss), fmtMB(fleet.pss)],
        ["pm2's own daemon (not counted)", 1, fmtMB(pm2?.rss), fmtMB(pm2?.pss)],
      ],
    ) + `\n\n\`exai list\` over the ${count} idle workspaces: p50 ${fmtMs(measured.listMs.p50)} ms.`;
  return {
    title: 'Idle fleet',
    note: `${count} workspaces spawned with --idle-timeout ${IDLE}, measured once \`exai list\` called every one idle.`,
    table,
    data: { ...measured },
    targets: [
      {
        target: `${count} idle workspaces < 100 MB beyond pm2 (RSS)`,
        measured: `${fmtMB(fleet.rss)} MB RSS, ${fmtMB(fleet.pss)} MB PSS in ${fleet.processes} processes`,
        met: fleet.rss < 100 * 1024 * 1024,
      },
    ],
  };
}
