import { chmodSync, existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shellArg } from '../src/common/shell.js';
import type { Finding } from '../src/fleet/doctor.js';
import { CLI, makeTestEnv, runCli, runProcess, spawnJson, type TestEnv } from './helpers/env.js';

let t: TestEnv;
beforeAll(() => {
  t = makeTestEnv();
});
afterAll(async () => {
  await t.cleanup();
});

describe('shellArg', () => {
  it('quotes for POSIX shells so nothing in the path expands, and leaves plain paths bare', () => {
    expect(shellArg('/home/me/app')).toBe('/home/me/app');
    expect(shellArg('/w/cost $HOME "q" `x`', 'linux')).toBe(`'/w/cost $HOME "q" \`x\`'`);
    expect(shellArg("/w/it's", 'darwin')).toBe(`'/w/it'\\''s'`);
    expect(shellArg('C:\\My Work', 'win32')).toBe('"C:\\My Work"');
  });
});

describe.skipIf(process.platform === 'win32')('commands printed with a path the shell would expand (issue 19 item 10)', () => {
  it('doctor’s fix, pasted into sh, runs on that very folder and expands nothing', async () => {
    // `exai` on PATH runs this build; `x` on PATH leaves a mark if a backquote ever runs it.
    const bin = join(t.dir, 'bin');
    mkdirSync(bin, { recursive: true });
    const ran = join(t.dir, 'x-ran');
    writeFileSync(join(bin, 'exai'), `#!/bin/sh\nexec ${shellArg(process.execPath)} ${shellArg(CLI)} "$@"\n`);
    writeFileSync(join(bin, 'x'), `#!/bin/sh\ntouch ${shellArg(ran)}\n`);
    chmodSync(join(bin, 'exai'), 0o755);
    chmodSync(join(bin, 'x'), 0o755);
    const env = { ...t.env, PATH: `${bin}:${t.env.PATH ?? ''}` };

    const dir = t.workspace('cost $HOME "q" `x`');
    const first = await spawnJson(env, dir);
    expect((await runCli(['pm2', 'delete', first.name], env)).code).toBe(0);

    const doctor = await runCli(['doctor', '--json'], env);
    const finding = (JSON.parse(doctor.stdout) as { findings: Finding[] }).findings.find((f) => f.scope === dir && f.check === 'daemon')!;
    expect(finding).toMatchObject({ status: 'problem', fix: `exai spawn --workspace ${shellArg(dir)}` });
    expect((await runCli(['doctor'], env)).stdout).toContain(`fix: exai spawn --workspace '${dir}'`);

    const pasted = await runProcess('/bin/sh', ['-c', finding.fix!], { env });
    expect(pasted.code, pasted.stderr).toBe(0);
    expect(pasted.stdout).toContain(`workspace  ${dir}`);
    expect(existsSync(ran)).toBe(false);
    const after = JSON.parse((await runCli(['doctor', '--json'], env)).stdout) as { findings: Finding[] };
    expect(after.findings.find((f) => f.scope === dir && f.check === 'daemon')?.status).toBe('ok');

    // An error that suggests a command quotes it the same way.
    const never = join(t.dir, 'workspaces', 'never $HOME');
    mkdirSync(never);
    const stop = await runCli(['stop', '--workspace', never], env);
    expect(stop.stderr).toContain(`exai spawn --workspace '${never}'`);
  }, 90_000);

  it('exai token and a moved folder’s warning quote the path they suggest a command for', async () => {
    // `exai token` before any spawn: the command it suggests must not expand $HOME or run `x`.
    const never = t.workspace('token $HOME "q" `x`');
    const token = await runCli(['token', '--workspace', never], t.env);
    expect(token.code).toBe(1);
    expect(token.stderr).toContain(`\`exai spawn --workspace ${shellArg(never)}\``);
    expect(token.stderr).toContain(`'${never}'`);

    // A folder moved away from its registered path: spawn's warning names the old path in a
    // command to paste.
    const old = t.workspace('old $HOME `x`');
    await spawnJson(t.env, old, '--client', 'claude');
    const moved = join(t.dir, 'workspaces', 'moved-plain');
    renameSync(old, moved);
    const again = await runCli(['spawn', '--workspace', moved], t.env);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain(`\`exai remove --workspace '${old}'\` frees port`);
  }, 90_000);
});
