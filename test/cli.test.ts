import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import stringWidth from 'string-width';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shellArg } from '../src/cli/format.js';
import { COMMANDS, commandHelp } from '../src/cli/help.js';
import * as doctorCmd from '../src/cli/doctor.js';
import * as listCmd from '../src/cli/list.js';
import * as logsCmd from '../src/cli/logs.js';
import * as spawnCmd from '../src/cli/spawn.js';
import * as targetsCmd from '../src/cli/targets.js';
import * as tokenCmd from '../src/cli/token.js';
import type { ListRow as Row } from '../src/fleet/list.js';
import { makeTestEnv, pm2Apps, runCli, waitFor, type TestEnv } from './helpers/env.js';
import { squat } from './helpers/squatter.js';

let t: TestEnv;
beforeAll(() => {
  t = makeTestEnv();
});
afterAll(async () => {
  await t.cleanup();
});

async function ok(args: string[], env: NodeJS.ProcessEnv = t.env) {
  const res = await runCli(args, env);
  if (res.code !== 0) throw new Error(`exai ${args.join(' ')} failed (${res.code}): ${res.stderr}${res.stdout}`);
  return res;
}
const widest = (text: string) => Math.max(...text.split('\n').map((l) => stringWidth(l)));
/** Piped output with no COLUMNS: the "not a terminal" case, whatever the runner's environment. */
const noColumns = (): NodeJS.ProcessEnv => {
  const env = { ...t.env };
  delete env.COLUMNS;
  return env;
};

describe('help (issue 15 item 8)', () => {
  it('bare `exai` prints the command list on stderr and exits 2; --help lists --version on stdout', async () => {
    const bare = await runCli([], t.env);
    expect(bare.code).toBe(2);
    expect(bare.stdout).toBe('');
    expect(bare.stderr).toMatch(/^usage: exai <command>/);
    const help = await ok(['--help']);
    expect(help.stderr).toBe('');
    for (const cmd of ['spawn', 'list, ls', 'stop', 'restart', 'remove', 'logs', 'token', 'doctor', 'pm2', 'daemon', 'shim', '--version']) expect(help.stdout).toContain(cmd);
    expect(widest(help.stdout)).toBeLessThanOrEqual(80);
  });

  it('`exai <command> --help` (and -h, and `exai help <command>`) describes that command, within 80 columns', async () => {
    const spawn = await ok(['spawn', '--help']);
    expect(spawn.stdout).toMatch(/^usage: exai spawn --workspace DIR/);
    for (const flag of ['-w, --workspace DIR', '--port N', '--client KIND', '--no-config', '--restart', '--json', '-h, --help']) expect(spawn.stdout).toContain(flag);
    expect((await ok(['spawn', '-h'])).stdout).toBe(spawn.stdout);
    expect((await ok(['help', 'spawn'])).stdout).toBe(spawn.stdout);
    expect((await ok(['logs', '--help'])).stdout).toMatch(/-n, --lines N[\s\S]*-f, --follow[\s\S]*--json/);
    expect((await ok(['ls', '--help'])).stdout).toBe((await ok(['list', '--help'])).stdout);
    for (const cmd of ['spawn', 'list', 'stop', 'restart', 'remove', 'logs', 'token', 'doctor', 'daemon', 'shim']) {
      const out = (await ok([cmd, '--help'])).stdout;
      expect(out, cmd).toMatch(new RegExp(`^usage: exai ${cmd}`));
      expect(widest(out), cmd).toBeLessThanOrEqual(80);
    }
    const pm2 = await ok(['help', 'pm2']);
    expect(pm2.stdout).toMatch(/^usage: exai pm2 ARGS/);
    expect(widest(pm2.stdout)).toBeLessThanOrEqual(80);
    const unknown = await runCli(['help', 'frobnicate'], t.env);
    expect(unknown.code).toBe(2);
  });

  it('every flag a command parses is in its help', () => {
    const parsed: [string, Record<string, { type: string; short?: string }>][] = [
      ['spawn', spawnCmd.options],
      ['list', listCmd.options],
      ['logs', logsCmd.options],
      ['doctor', doctorCmd.options],
      ['stop', targetsCmd.options],
      ['restart', targetsCmd.options],
      ['remove', targetsCmd.options],
      ['token', tokenCmd.options],
    ];
    for (const [cmd, options] of parsed) {
      const help = commandHelp(cmd)!;
      expect(Object.keys(COMMANDS)).toContain(cmd);
      for (const [name, spec] of Object.entries(options)) {
        expect(help, `${cmd} --${name}`).toContain(`--${name}`);
        if (spec.short) expect(help, `${cmd} -${spec.short}`).toContain(`-${spec.short}, --${name}`);
      }
    }
  });

  it("a usage error points at the command's own help", async () => {
    const res = await runCli(['spawn', '--bogus'], t.env);
    expect(res.code).toBe(2);
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
    expect(res.stderr).toContain('`exai spawn --help`');
  });
});

describe('--json everywhere, and --lines 0 (issue 15 item 9)', () => {
  it('spawn, list and logs print JSON with --json (logs: one object per line)', async () => {
    const dir = t.workspace('json');
    const spawned = JSON.parse((await ok(['spawn', '-w', dir, '--json'])).stdout) as { name: string; port: number };
    expect(spawned.port).toBeGreaterThan(0);
    expect((JSON.parse((await ok(['list', '--json'])).stdout) as Row[]).some((r) => r.name === spawned.name)).toBe(true);

    const logs = await ok(['logs', '-w', dir, '--json', '--lines', '5']);
    const records = logs.stdout.trim().split('\n').map((l) => JSON.parse(l) as { time: string | null; stream: string; line: string });
    expect(records.length).toBeGreaterThan(0);
    expect(records.length).toBeLessThanOrEqual(5);
    for (const r of records) {
      expect(Object.keys(r).sort()).toEqual(['line', 'stream', 'time']);
      expect(['out', 'err']).toContain(r.stream);
      expect(r.line).not.toContain('\n');
    }
    expect(records.some((r) => /listening/i.test(r.line) && r.time !== null && r.line.startsWith(r.time))).toBe(true);
  });

  it('restart, stop, doctor and remove too', async () => {
    const dir = t.workspace('json');
    const spawned = JSON.parse((await ok(['spawn', '-w', dir, '--json'])).stdout) as { name: string; port: number };
    expect(spawned.port).toBeGreaterThan(0);
    expect(JSON.parse((await ok(['restart', '-w', dir, '--json'])).stdout)).toEqual([expect.objectContaining({ port: spawned.port })]);
    expect(JSON.parse((await ok(['stop', '-w', dir, '--json'])).stdout)).toEqual([expect.objectContaining({ stopped: true })]);
    const doctor = await runCli(['doctor', '--json'], t.env);
    expect(JSON.parse(doctor.stdout)).toHaveProperty('findings');
    expect(JSON.parse((await ok(['remove', '-w', dir, '--json'])).stdout)).toEqual([expect.objectContaining({ name: spawned.name })]);
  });

  it('--lines 0 prints nothing, human or JSON', async () => {
    const dir = t.workspace('zero');
    await ok(['spawn', '-w', dir]);
    expect((await ok(['logs', '-w', dir, '--lines', '1'])).stdout.trim().split('\n')).toHaveLength(1);
    expect((await ok(['logs', '-w', dir, '--lines', '0'])).stdout).toBe('');
    expect((await ok(['logs', '-w', dir, '-n', '0', '--json'])).stdout).toBe('');
    const bad = await runCli(['logs', '-w', dir, '--lines', '-1'], t.env);
    expect(bad.code).toBe(2);
  });
});

describe('exai list fits the terminal (issue 15 item 7)', () => {
  let long: string;
  let wide: string;
  let rows: Row[];
  beforeAll(async () => {
    long = t.workspace('a-workspace-folder-with-a-rather-long-name-indeed');
    wide = t.workspace('项目-😀-проект');
    await ok(['spawn', '-w', long]);
    await ok(['spawn', '-w', wide]);
    rows = JSON.parse((await ok(['list', '--json'])).stdout) as Row[];
  });
  const tableOf = (stdout: string) => stdout.split('\n\n')[0]!.split('\n');
  /** Display column where `needle` starts in `line`. */
  const columnOf = (line: string, needle: string) => stringWidth(line.slice(0, line.indexOf(needle)));

  it('never wider than COLUMNS: paths cut in the middle, the pm2 name whole', async () => {
    for (const columns of [100, 72, 60]) {
      const out = (await ok(['list'], { ...t.env, COLUMNS: String(columns) })).stdout;
      const table = tableOf(out);
      for (const line of table) expect(stringWidth(line), `COLUMNS=${columns}: ${line}`).toBeLessThanOrEqual(columns);
      const longRow = rows.find((r) => r.workspace === long)!;
      const row = table.find((l) => l.includes(` ${longRow.port} `));
      expect(row, `COLUMNS=${columns}`).toBeDefined();
      expect(row).toMatch(/^\S+…\S*indeed /); // cut in the middle: the folder name is what stays
      // The pm2 name (for `pm2 show`) gives way only when nothing else can.
      if (columns >= 72) expect(row).toContain(longRow.name);
      expect(table[0]).toMatch(/^WORKSPACE\s+PM2 NAME\s+PORT\s+STATUS/);
    }
  });

  it('piped without COLUMNS nothing is cut; CJK and emoji keep the columns aligned', async () => {
    const out = (await ok(['list'], noColumns())).stdout;
    const table = tableOf(out);
    expect(out).not.toContain('…');
    expect(out).toContain(long);
    expect(out).toContain(wide);
    expect(widest(table.join('\n'))).toBeGreaterThan(80);
    for (const header of ['PM2 NAME', 'PORT', 'STATUS']) {
      const at = columnOf(table[0]!, header);
      for (const r of rows) {
        const line = table.find((l) => l.includes(r.name))!;
        const cell = header === 'PM2 NAME' ? r.name : header === 'PORT' ? ` ${r.port} ` : r.status;
        expect(columnOf(line, cell) + (header === 'PORT' ? 1 : 0), `${header} of ${r.workspace}`).toBe(at);
      }
    }
    // A narrow terminal cuts the wide-character path between characters, never through one.
    const narrow = tableOf((await ok(['list'], { ...t.env, COLUMNS: '50' })).stdout);
    for (const line of narrow) expect(stringWidth(line)).toBeLessThanOrEqual(50);
    expect(narrow.join('\n')).not.toContain('\uFFFD');
  });

  it('says how to bring back what pm2 no longer runs', async () => {
    const longRow = rows.find((r) => r.workspace === long)!;
    const wideRow = rows.find((r) => r.workspace === wide)!;
    await ok(['stop', '-w', long]);
    await ok(['pm2', 'delete', wideRow.name]);
    const out = (await ok(['list'], noColumns())).stdout;
    expect(out).toMatch(new RegExp(`${longRow.port}\\s+stopped`));
    expect(out).toMatch(new RegExp(`${wideRow.port}\\s+not started`));
    expect(out).toContain(`exai spawn --workspace ${shellArg(long)}    (stopped)`);
    expect(shellArg(wide)).not.toBe(wide); // quoted: not a safe shell word
    expect(out).toContain(`exai spawn --workspace ${shellArg(wide)}    (not started)`);
  });

  it('and those commands bring them back', async () => {
    await ok(['spawn', '--workspace', long]);
    await ok(['spawn', '--workspace', wide]);
    const back = JSON.parse((await ok(['list', '--json'])).stdout) as Row[];
    for (const r of back.filter((b) => b.workspace === long || b.workspace === wide)) expect(r).toMatchObject({ status: 'online', healthy: true });
    expect((await ok(['list'], noColumns())).stdout).not.toContain('bring them back');
  });

  it('names who holds the port of a daemon that gave it up, and the spawn that moves it', async () => {
    const row = rows.find((r) => r.workspace === long)!;
    await ok(['pm2', 'stop', row.name]);
    const squatter = await squat(row.port);
    try {
      await ok(['pm2', 'restart', row.name]); // the daemon finds its port taken and exits 98
      const out = await waitFor(
        async () => {
          const text = (await ok(['list'], noColumns())).stdout;
          return text.includes('is held by') ? text : undefined;
        },
        { what: 'list to name the port holder' },
      );
      expect(out).toContain(`exai spawn --workspace ${shellArg(long)}    (port ${row.port} is held by pid ${squatter.pid}`);
      const moved = JSON.parse((await ok(['spawn', '--workspace', long, '--json'])).stdout) as { port: number; movedFrom?: number };
      expect(moved.movedFrom).toBe(row.port);
    } finally {
      await squatter.close();
    }
  });
});

describe('multi-root .code-workspace files (issue 15 item 10)', () => {
  it('are refused with one line naming each folder and the command for it; nothing is started or written', async () => {
    const a = t.workspace('multi-a');
    const b = t.workspace('multi-b');
    const file = join(t.dir, 'workspaces', 'team.code-workspace');
    const text = '{\n  // two folders\n  "folders": [ { "path": "multi-a" }, { "name": "B", "path": "./multi-b" }, ],\n  "settings": {}\n}\n';
    writeFileSync(file, text);
    const before = (await pm2Apps(t.env)).length;
    for (const cmd of ['spawn', 'stop', 'remove']) {
      const res = await runCli([cmd, '--workspace', file], t.env);
      expect(res.code, cmd).toBe(2);
      const lines = res.stderr.trim().split('\n');
      expect(lines, cmd).toHaveLength(1);
      expect(lines[0]).toContain('multi-root workspace file');
      expect(lines[0]).toContain(`\`exai ${cmd} --workspace ${shellArg(a)}\``);
      expect(lines[0]).toContain(`\`exai ${cmd} --workspace ${shellArg(b)}\``);
    }
    expect(readFileSync(file, 'utf8')).toBe(text);
    expect((await pm2Apps(t.env)).length).toBe(before);
    const rows = JSON.parse((await ok(['list', '--json'])).stdout) as Row[];
    expect(rows.some((r) => r.workspace === a || r.workspace === b || r.workspace === file)).toBe(false);
  });
});
