// `npm test`'s first step: the build (the tests run dist/) and the type-check of the tests, at
// the same time. Each is one tsc process, mostly on one core: on a 2-core machine the pair
// takes about as long as the slower one. Both are incremental (tsBuildInfoFile in
// tsconfig.json and tsconfig.test.json), so a run after `npm ci` (whose `prepare` built) or an
// earlier `npm test` checks only what changed. Fails when either fails, with its output.
import { spawn } from 'node:child_process';

/** `npm run NAME` through the npm that runs this script (npm_execpath), else `npm` on PATH. */
function runScript(name) {
  const npm = process.env.npm_execpath;
  const [command, args] = npm ? [process.execPath, [npm, 'run', '--silent', name]] : ['npm', ['run', '--silent', name]];
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], shell: !npm && process.platform === 'win32' });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.once('error', (err) => resolve({ name, code: 1, output: String(err) }));
    child.once('close', (code) => resolve({ name, code: code ?? 1, output }));
  });
}

const results = await Promise.all([runScript('build'), runScript('typecheck')]);
let failed = false;
for (const { name, code, output } of results) {
  if (output.trim()) process.stdout.write(output.endsWith('\n') ? output : `${output}\n`);
  if (code !== 0) {
    failed = true;
    console.error(`npm run ${name} failed (exit ${code})`);
  }
}
process.exitCode = failed ? 1 : 0;
