#!/usr/bin/env node
/**
 * Writes docs/RELIABILITY.md from the reliability suite's own results, so the report cannot
 * drift from what the tests check.
 *
 *   node scripts/reliability-report.mjs --run        run the suite (always-run + stress + the
 *                                                    related existing tests), then write the report
 *   node scripts/reliability-report.mjs results.json write the report from an earlier vitest JSON run
 *
 * Tests in test/reliability and test/stress name their scenario with a tag in the title
 * ("[F3] …") and record what they measured in `task.meta.evidence`; tests elsewhere that cover
 * a scenario are listed below by file and exact title (a renamed one shows up as missing).
 * The exit code is vitest's: the report is written either way.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(ROOT, 'docs', 'RELIABILITY.md');
const RESULTS = join(ROOT, '.tmp', 'reliability', 'results.json');

/** One row per scenario of issue 7, in its words; `existing` = tests outside this suite that also cover it. */
const SCENARIOS = [
  { id: 'L1', area: 'Load', text: '20 workspaces spawned at once from 20 processes: 20 distinct ports, 20 healthy daemons, a registry with 20 entries, one pm2 daemon.',
    existing: [
      ['test/spawn.test.ts', '8 processes spawning 8 workspaces at once: 8 ports, 8 online apps, one pm2 daemon'],
      ['test/spawn.test.ts', '5 processes spawning the same workspace at once agree on one app and one port'],
    ] },
  { id: 'L2', area: 'Load', text: 'One daemon, 50 concurrent sessions, 200 calls each: every response matches its own request (no cross-talk), none lost.',
    existing: [
      ['test/daemon-server.test.ts', 'each SDK client gets its own answers, with no stray message from another session'],
      ['test/daemon-server.test.ts', 'raw sessions using the same request ids each receive exactly their own replies'],
      ['test/gateway-daemon.test.ts', 'gives two sessions calling at once their own results'],
    ] },
  { id: 'F1', area: 'Faults', text: 'Daemon `kill -9` in the middle of a call: the call fails cleanly, the next one succeeds after pm2 restarts it.',
    existing: [
      ['test/spawn.test.ts', 'kill -9 of the daemon: pm2 brings it back on the same port, healthy'],
      ['test/shim.test.ts', 'continues the same session after `kill -9` of the daemon, once pm2 has restarted it'],
      ['test/shim.test.ts', 'answers calls in flight with an error promptly when the daemon is stopped (no hang)'],
      ['test/transport.test.ts', 'tells the SDK client when the daemon goes away, and pending calls fail instead of hanging'],
    ] },
  { id: 'F2', area: 'Faults', text: 'The pm2 daemon itself killed: the next `exai spawn` / `exai list` bring it back with every workspace on its port; the registry intact.',
    existing: [['test/fleet.test.ts', 'pm2 kill, then pm2 start ecosystem.config.js restores every workspace on its port']] },
  { id: 'F3', area: 'Faults', text: 'Registry file truncated or garbage: a clear error naming the file; `exai doctor --fix` restores it from the backup and pm2; nothing silently reset.',
    existing: [
      ['test/fleet.test.ts', 'finds a drifted config, a deleted workspace, a foreign process on a port and a corrupt registry; --fix repairs them'],
      ['test/registry.test.ts', 'reports a registry that is not JSON as REGISTRY_CORRUPT with the way out, and leaves it as it was'],
      ['test/registry.test.ts', 'keeps the last good registry in the backup, for doctor to restore'],
    ] },
  { id: 'F4', area: 'Faults', text: '`EXAI_HOME` not writable, or the disk full while writing: a clear error, and no half-written registry, token or config.',
    existing: [['test/registry.test.ts', 'says HOME_NOT_WRITABLE when EXAI_HOME cannot be created']] },
  { id: 'F5', area: 'Faults', text: 'Workspace directory deleted while its daemon runs: `doctor` reports it; `remove` cleans it up.',
    existing: [['test/fleet.test.ts', 'finds a drifted config, a deleted workspace, a foreign process on a port and a corrupt registry; --fix repairs them']] },
  { id: 'F6', area: 'Faults', text: 'A stale lock left by a killed exai process does not block the next command for long.',
    existing: [
      ['test/lock.test.ts', 'takes over at once a lock left by a process that has exited'],
      ['test/lock.test.ts', 'takes over a lock untouched for longer than staleMs even when its pid is alive (pid reuse)'],
    ] },
  { id: 'H1', area: 'Hostile input', text: 'WebSocket: no token, wrong token, foreign Origin, foreign Host, oversized frame, 10,000 malformed frames, a handshake that never finishes (slowloris) — rejected or dropped, the daemon keeps serving the others, memory stays bounded.',
    existing: [
      ['test/daemon-server.test.ts', 'no token: 401, no upgrade'],
      ['test/daemon-server.test.ts', 'wrong token: 401, no upgrade'],
      ['test/daemon-server.test.ts', 'an evil Origin: 403 even with the right token; loopback origins pass'],
      ['test/daemon-server.test.ts', 'an evil Host (DNS rebinding): 403 even with the right token'],
      ['test/daemon-server.test.ts', 'a slowloris handshake is dropped by the server'],
      ['test/daemon-server.test.ts', 'an oversized frame closes that connection with 1009; the daemon keeps serving others'],
      ['test/daemon-server.test.ts', 'a peer that stops answering pings is dropped by the heartbeat'],
    ] },
  { id: 'H2', area: 'Hostile input', text: 'JSON-RPC: batch arrays, huge or odd ids, wrong types, unknown methods, deeply nested params: well-formed errors, no crash.',
    existing: [
      ['test/daemon-server.test.ts', 'a non-JSON frame gets -32700 and the connection stays usable'],
      ['test/daemon-server.test.ts', 'a batch array gets -32600 with id null'],
      ['test/daemon-server.test.ts', 'JSON that is not JSON-RPC gets -32600 carrying its id; binary frames -32600 too'],
    ] },
  { id: 'H3', area: 'Hostile input', text: 'CLI: workspace paths with spaces, quotes, `$()`, newlines and non-ASCII; `--port` out of range or not a number; servers.json whose command does not exist — clear errors, nothing executed that should not be.',
    existing: [
      ['test/spawn.test.ts', 'handles paths with spaces, quotes, $() and non-ASCII without executing anything'],
      ['test/spawn.test.ts', 'refuses bad input with one line, the right exit code, and nothing written'],
      ['test/upstreams-supervision.test.ts', 'reports a command that does not exist, and a cwd that does not exist'],
    ] },
  { id: 'S1', area: 'Security', text: 'Every daemon listens on 127.0.0.1 only (read the OS socket table).', existing: [] },
  { id: 'S2', area: 'Security', text: 'Token file 0600, `EXAI_HOME` 0700; the token is absent from client configs, `pm2 show` / `pm2 env` output, log files and `/proc/<pid>/cmdline`.',
    existing: [['test/shim-process.test.ts', 'never writes the token to its log']] },
  { id: 'S3', area: 'Security', text: 'A browser-style request (Origin of some website) can neither open a WebSocket nor read `/health` details beyond what DESIGN.md allows.',
    existing: [['test/daemon-server.test.ts', 'GET /health reports the daemon, its port and its open sessions']] },
];

const existingFiles = [...new Set(SCENARIOS.flatMap((s) => s.existing.map(([file]) => file)))];

function runSuite() {
  mkdirSync(dirname(RESULTS), { recursive: true });
  const args = [
    join(ROOT, 'node_modules', 'vitest', 'vitest.mjs'),
    'run',
    'test/reliability',
    'test/stress',
    ...existingFiles,
    '--reporter=default',
    '--reporter=json',
    `--outputFile.json=${RESULTS}`,
  ];
  const res = spawnSync(process.execPath, args, { cwd: ROOT, stdio: 'inherit', env: { ...process.env, EXAI_STRESS: '1' } });
  return res.status ?? 1;
}

const cell = (text) => String(text).replace(/\r?\n/g, ' ').replace(/\|/g, '\\|');
const mark = (t) => (t.knownBug ? (t.status === 'passed' ? '⚠️' : '❗') : t.status === 'passed' ? '✅' : t.status === 'failed' ? '❌' : '⏭️');

function suiteOf(file) {
  if (file.startsWith('test/stress/')) return 'stress';
  if (file.startsWith('test/reliability/')) return 'always-run';
  return 'existing';
}

function collect(results) {
  const tests = [];
  for (const file of results.testResults) {
    const rel = relative(ROOT, file.name);
    for (const a of file.assertionResults) {
      tests.push({
        file: rel,
        suite: suiteOf(rel),
        title: a.title,
        fullName: a.fullName,
        status: a.status,
        duration: a.duration ?? 0,
        evidence: a.meta?.evidence ?? [],
        knownBug: a.meta?.knownBug,
        failure: (a.failureMessages ?? [])[0],
        tag: /^\[([A-Z]\d)\]/.exec(a.title)?.[1],
      });
    }
    if (file.assertionResults.length === 0 && file.status === 'failed') {
      tests.push({ file: rel, suite: suiteOf(rel), title: '(file failed to load)', status: 'failed', evidence: [], failure: file.message, tag: undefined });
    }
  }
  return tests;
}

function resultOf(tests, missing) {
  if (!tests.length) return '⏭️ not run';
  const failed = tests.filter((t) => !t.knownBug && t.status === 'failed').length;
  const bugs = tests.filter((t) => t.knownBug && t.status === 'passed').length;
  const fixed = tests.filter((t) => t.knownBug && t.status === 'failed').length;
  const passed = tests.filter((t) => !t.knownBug && t.status === 'passed').length;
  const skipped = tests.filter((t) => t.status !== 'passed' && t.status !== 'failed').length;
  const parts = [];
  if (failed) parts.push(`❌ **FAIL** (${failed} of ${tests.length})`);
  else parts.push(`✅ pass (${passed})`);
  if (bugs) parts.push(`⚠️ ${bugs} known bug${bugs > 1 ? 's' : ''}`);
  if (fixed) parts.push(`❗ ${fixed} known bug(s) no longer reproduce: drop \`it.fails\``);
  if (skipped) parts.push(`⏭️ ${skipped} skipped`);
  if (missing) parts.push(`⚠️ ${missing} referenced test(s) not found`);
  return parts.join(' · ');
}

function render(results) {
  const tests = collect(results);
  const version = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version;
  const ran = (suite) => tests.filter((t) => t.suite === suite);
  const totals = {
    passed: tests.filter((t) => t.status === 'passed' && !t.knownBug).length,
    failed: tests.filter((t) => t.status === 'failed' && !t.knownBug).length,
    bugs: tests.filter((t) => t.knownBug).length,
    skipped: tests.filter((t) => t.status !== 'passed' && t.status !== 'failed').length,
  };
  const wallS = (Math.max(...results.testResults.map((f) => f.endTime ?? 0)) - results.startTime) / 1000;
  const lines = [];
  lines.push('# Reliability and security report');
  lines.push('');
  lines.push('<!-- Generated by `npm run test:reliability` (scripts/reliability-report.mjs) from the suite\'s own results. Do not edit by hand. -->');
  lines.push('');
  lines.push(`What exai withstands, scenario by scenario (issue 7), as measured by the suite on ${new Date(results.startTime).toISOString().slice(0, 16).replace('T', ' ')} UTC: ` +
    `exai ${version}, Node ${process.version}, Linux ${release()}, ${cpus().length} CPU(s); ${results.testResults.length} test files in ${wallS.toFixed(0)} s.`);
  lines.push('');
  lines.push(`- **always-run** — \`test/reliability/*.test.ts\`, part of \`npm test\` (${ran('always-run').length} tests)`);
  lines.push(`- **stress** — \`test/stress/*.test.ts\`, full sizes, \`npm run test:stress\` (EXAI_STRESS=1) (${ran('stress').length} tests${ran('stress').length ? '' : ': NOT RUN in this report'})`);
  lines.push(`- **existing** — tests elsewhere in \`test/\` that cover the same scenario, run in the same report run (${ran('existing').length} tests)`);
  lines.push('');
  lines.push(`Totals: ${totals.passed} passed, ${totals.failed} failed, ${totals.bugs} known bug(s) (\`it.fails\`), ${totals.skipped} skipped. ` +
    'Rerun everything and regenerate this file with `npm run test:reliability`.');
  lines.push('');
  lines.push('Legend: ✅ passed · ❌ failed · ⚠️ known bug (the test demonstrates it and is marked `it.fails`) · ⏭️ skipped.');
  lines.push('');
  lines.push('| # | Scenario (issue 7) | What was checked (tests) | Result |');
  lines.push('| --- | --- | --- | --- |');

  const details = [];
  for (const s of SCENARIOS) {
    const own = tests.filter((t) => t.tag === s.id && t.suite !== 'existing');
    const existing = [];
    const missing = [];
    for (const [file, title] of s.existing) {
      const found = tests.find((t) => t.file === file && t.title === title);
      if (found) existing.push(found);
      else missing.push(`${file} › ${title}`);
    }
    const all = [...own, ...existing];
    const checked = [
      ...own.map((t) => `${mark(t)} *${t.suite}:* ${t.title.replace(/^\[[A-Z]\d\]\s*/, '')}`),
      ...existing.map((t) => `${mark(t)} *${t.file.replace(/^test\//, '')}:* ${t.title}`),
      ...missing.map((m) => `⚠️ *missing:* ${m}`),
    ];
    lines.push(`| ${s.id} | **${s.area}.** ${cell(s.text)} | ${checked.map(cell).join('<br>')} | ${resultOf(all, missing.length)} |`);

    details.push(`### ${s.id} — ${s.text}`);
    details.push('');
    for (const t of own) {
      details.push(`- ${mark(t)} **${t.suite}** — ${t.title.replace(/^\[[A-Z]\d\]\s*/, '')} (${(t.duration / 1000).toFixed(1)} s)`);
      if (t.knownBug) details.push(`  - **known bug:** ${t.knownBug}`);
      for (const e of t.evidence) details.push(`  - ${e.replace(/\r?\n/g, ' ')}`);
      if (t.status === 'failed' && t.failure) details.push(`  - **failure:** \`${t.failure.split('\n')[0].slice(0, 300)}\``);
    }
    for (const t of existing) {
      details.push(`- ${mark(t)} **existing** \`${t.file}\` — ${t.title}`);
      if (t.status === 'failed' && t.failure) details.push(`  - **failure:** \`${t.failure.split('\n')[0].slice(0, 300)}\``);
    }
    for (const m of missing) details.push(`- ⚠️ referenced test not found (renamed or removed?): ${m}`);
    details.push('');
  }

  const bugs = tests.filter((t) => t.knownBug);
  lines.push('');
  lines.push('## Known bugs');
  lines.push('');
  if (!bugs.length) lines.push('None.');
  for (const t of bugs) {
    lines.push(`- **${t.tag ?? '?'}** (${t.status === 'passed' ? 'still reproduces' : 'NO LONGER REPRODUCES — remove `it.fails`'}) — ${t.knownBug}`);
  }
  const untagged = tests.filter((t) => t.suite !== 'existing' && !SCENARIOS.some((s) => s.id === t.tag));
  if (untagged.length) {
    lines.push('');
    lines.push('## Tests without a scenario tag');
    lines.push('');
    for (const t of untagged) lines.push(`- ${mark(t)} \`${t.file}\` — ${t.title}`);
  }
  const failures = tests.filter((t) => t.status === 'failed' && !t.knownBug);
  if (failures.length) {
    lines.push('');
    lines.push('## Failures');
    lines.push('');
    for (const t of failures) lines.push(`- \`${t.file}\` — ${t.title}: \`${(t.failure ?? '').split('\n')[0].slice(0, 400)}\``);
  }
  lines.push('');
  lines.push('## Evidence, scenario by scenario');
  lines.push('');
  lines.push('What each test measured on this run (recorded by the tests themselves).');
  lines.push('');
  lines.push(...details);
  return lines.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd() + '\n';
}

const argv = process.argv.slice(2);
let code = 0;
let resultsFile = RESULTS;
if (argv[0] === '--run') code = runSuite();
else if (argv[0]) resultsFile = argv[0];
let results;
try {
  results = JSON.parse(readFileSync(resultsFile, 'utf8'));
} catch (err) {
  process.stderr.write(`reliability-report: cannot read the vitest results ${resultsFile} (${err.message}); run with --run\n`);
  process.exit(1);
}
mkdirSync(dirname(OUT), { recursive: true });
writeFileSync(OUT, render(results));
process.stdout.write(`reliability-report: wrote ${relative(ROOT, OUT)}\n`);
process.exit(code);
