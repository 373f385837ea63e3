#!/usr/bin/env node
/**
 * `npm run bench`: every section, or those named (`node bench/run.js spawn roundtrip`).
 * Prints one markdown table per section and a final targets table, and writes
 * bench/results/latest.json. A benchmark reports; it never fails the build: a section that
 * throws is reported as failed and the others still run (exit code stays 0 unless the
 * runner itself is misused).
 *
 * `--quick` sizes every section down (a smoke run of the scripts, not numbers to quote).
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem, platform, arch } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ROOT, cleanupAll, installSignalCleanup } from './lib/env.js';
import { markdownTable } from './lib/stats.js';

const SECTIONS = {
  daemon: () => import('./daemon-start.js'),
  spawn: () => import('./spawn.js'),
  roundtrip: () => import('./roundtrip.js'),
  gateway: () => import('./gateway.js'),
  eras: () => import('./eras.js'),
  fleet: () => import('./fleet.js'),
  shim: () => import('./shim-section.js'),
  sharing: () => import('./sharing.js'),
  wake: () => import('./wake.js'),
  idle: () => import('./idle-fleet.js'),
  httpcpu: () => import('./http-cpu.js'),
};

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const named = args.filter((a) => !a.startsWith('--'));
const unknown = named.filter((n) => !(n in SECTIONS));
if (unknown.length) {
  process.stderr.write(`bench: unknown section(s) ${unknown.join(', ')}; known: ${Object.keys(SECTIONS).join(', ')}\n`);
  process.exit(2);
}
const chosen = named.length ? named : Object.keys(SECTIONS);

installSignalCleanup(async () => (await import('./lib/mcp.js')).closeLive());

const log = (m) => process.stderr.write(`  … ${m}\n`);
const machine = {
  platform: `${platform()} ${release()} ${arch()}`,
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  memoryGB: Math.round(totalmem() / 1024 ** 3),
  loadavgAtStart: loadavg().map((x) => Math.round(x * 100) / 100),
};
const results = { date: new Date().toISOString(), node: process.version, machine, quick, sections: {}, targets: [] };

const startedAll = performance.now();
for (const name of chosen) {
  process.stderr.write(`bench: ${name}…\n`);
  const started = performance.now();
  try {
    const section = await (await SECTIONS[name]()).run({ quick, log });
    const seconds = Math.round((performance.now() - started) / 100) / 10;
    process.stdout.write(`\n## ${section.title}\n\n${section.note ? `${section.note}\n\n` : ''}${section.table}\n`);
    results.sections[name] = { title: section.title, date: new Date().toISOString(), seconds, note: section.note, ...section.data, targets: section.targets ?? [] };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    process.stdout.write(`\n## ${name}\n\nfailed: ${message}\n`);
    results.sections[name] = { date: new Date().toISOString(), failed: message, targets: [] };
  } finally {
    // A section cleans up after itself; this catches whatever a throw left behind.
    await cleanupAll();
  }
}
results.seconds = Math.round((performance.now() - startedAll) / 100) / 10;
for (const name of chosen) results.targets.push(...results.sections[name].targets.map((t) => ({ section: name, ...t })));

if (results.targets.length) {
  const table = markdownTable(
    ['target', 'measured', 'met'],
    results.targets.map((t) => [t.target, t.measured, t.met === null ? 'n/a' : t.met ? 'yes' : 'no']),
  );
  process.stdout.write(`\n## Targets\n\n${table}\n`);
}
process.stdout.write(
  `\nnode ${process.version}, ${machine.cpu} x${machine.cores}, ${machine.memoryGB} GB, load at start ${machine.loadavgAtStart.join(' ')}; ${results.seconds} s\n`,
);

// A --quick run is a smoke test of the scripts: its numbers never replace the real ones.
const dir = join(ROOT, 'bench', quick ? '.tmp' : 'results');
mkdirSync(dir, { recursive: true });
const file = join(dir, quick ? 'quick.json' : 'latest.json');
// A run of some sections keeps the other sections of the last full run (each carries its date).
if (named.length && existsSync(file)) {
  try {
    const previous = JSON.parse(readFileSync(file, 'utf8'));
    for (const [name, section] of Object.entries(previous.sections ?? {})) {
      if (!(name in results.sections)) results.sections[name] = section;
    }
    results.targets = Object.entries(results.sections).flatMap(([name, s]) => (s.targets ?? []).map((t) => ({ section: name, ...t })));
  } catch {
    // An unreadable previous file is simply replaced.
  }
}
writeFileSync(`${file}.tmp`, JSON.stringify(results, null, 2) + '\n');
renameSync(`${file}.tmp`, file);
process.stderr.write(`bench: wrote ${file}\n`);
