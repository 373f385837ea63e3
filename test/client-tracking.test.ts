import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseToml } from '@decimalturn/toml-patch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeClientConfig } from '../src/supervisor/client-config.js';
import type { RegistryEntry } from '../src/supervisor/registry.js';
import { trackedConfigFindings } from '../src/fleet/tracked-configs.js';
import { makeTestEnv, runCli, type TestEnv } from './helpers/env.js';

let t: TestEnv;
beforeAll(() => {
  t = makeTestEnv();
});
afterAll(async () => {
  await t.cleanup();
});

function git(cwd: string, ...args: string[]): string {
  const res = spawnSync('git', ['-c', 'user.email=t@example.invalid', '-c', 'user.name=t', ...args], { cwd, encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`git ${args.join(' ')}: ${res.stderr}`);
  return res.stdout;
}

function entryFor(workspace: string, clients: RegistryEntry['clients'], port = 8079): RegistryEntry {
  return { workspace, id: 'abcd1234', name: 'exai-t-abcd1234', port, pinned: false, clients, createdAt: '', updatedAt: '' };
}

describe('doctor: exai’s entry in a git-tracked config', () => {
  it('warns only once the config is tracked, and the fix it names makes the warning go', async () => {
    const repo = t.workspace('repo');
    git(repo, 'init', '-q');
    // The workspace is a subfolder of the repository, as in a monorepo.
    const ws = join(repo, 'app');
    mkdirSync(join(ws, '.gemini'), { recursive: true });
    writeFileSync(join(ws, '.gemini', 'settings.json'), '{ "ui": { "theme": "GitHub" } }\n');
    const dirs = { home: t.home, pm2Home: t.pm2Home };
    await writeClientConfig('vscode', ws, 8079, dirs);
    await writeClientConfig('gemini', ws, 8079, dirs);
    const entry = entryFor(ws, ['vscode', 'gemini']);
    expect(trackedConfigFindings(entry)).toEqual([]);

    git(repo, 'add', '.');
    git(repo, 'commit', '-qm', 'configs');
    const findings = trackedConfigFindings(entry);
    expect(findings.map((f) => [f.check, f.status])).toEqual([
      ['git vscode', 'warning'],
      ['git gemini', 'warning'],
    ]);
    expect(findings[0]!.message).toMatch(/^\.vscode\/mcp\.json is tracked by git, and exai's entry in it is this machine's/);
    // mcp.json holds only exai: stop tracking it; settings.json holds the team's theme: skip-worktree.
    expect(findings[0]!.fix).toContain('rm --cached .vscode/mcp.json && echo /app/.vscode/mcp.json >> ');
    expect(findings[1]!.fix).toContain('update-index --skip-worktree .gemini/settings.json');

    for (const f of findings) {
      const command = f.fix!.replace(/ \(.*\)$/, '');
      const res = spawnSync('sh', ['-c', command], { encoding: 'utf8' });
      expect(res.status, `${command}: ${res.stderr}`).toBe(0);
    }
    expect(readFileSync(join(repo, '.git', 'info', 'exclude'), 'utf8')).toContain('/app/.vscode/mcp.json\n');
    // Git no longer reports mcp.json at all (untracked and excluded), settings.json stays local.
    expect(git(repo, 'status', '--porcelain', '--untracked-files=all')).toBe('D  app/.vscode/mcp.json\n');
    expect(trackedConfigFindings(entry).map((f) => [f.check, f.status])).toEqual([['git gemini', 'ok']]);
  });

  it('says nothing outside a git repository, or for a config without exai’s entry', async () => {
    const ws = t.workspace();
    await writeClientConfig('codex', ws, 8079, { home: t.home, pm2Home: t.pm2Home });
    expect(trackedConfigFindings(entryFor(ws, ['codex']))).toEqual([]);
    const repo = t.workspace();
    git(repo, 'init', '-q');
    mkdirSync(join(repo, '.vscode'));
    writeFileSync(join(repo, '.vscode', 'mcp.json'), '{ "servers": { "other": { "command": "x" } } }\n');
    git(repo, 'add', '.');
    expect(trackedConfigFindings(entryFor(repo, ['vscode']))).toEqual([]);
  });

  it('exai doctor prints the warning and still exits 0; spawn names the trust steps; remove restores the files', async () => {
    const ws = t.workspace('agents');
    git(ws, 'init', '-q');
    const codexText = '# team settings\nmodel = "o3"\n';
    mkdirSync(join(ws, '.codex'));
    writeFileSync(join(ws, '.codex', 'config.toml'), codexText);
    const spawned = await runCli(['spawn', '--workspace', ws, '--client', 'codex', '--client', 'gemini', '--client', 'claude'], t.env);
    expect(spawned.code, spawned.stderr).toBe(0);
    expect(spawned.stdout).toMatch(/^todo {7}Claude Code: /m);
    expect(spawned.stdout).toMatch(/^todo {7}Gemini CLI: /m);
    expect(spawned.stdout).toMatch(/^todo {7}Codex: reads \.codex\/config\.toml only in a trusted project — trust it when codex asks, or add these two lines to ~\/\.codex\/config\.toml:$/m);
    // The two lines below it, pasted as printed (indent and all), are the TOML that trusts the project.
    const lines = spawned.stdout.split('\n');
    const at = lines.findIndex((l) => l.startsWith('todo       Codex: '));
    const pasted = lines.slice(at + 1, at + 3).join('\n');
    expect(pasted).toMatch(/^ +\[projects\.".*"\]\n +trust_level = "trusted"$/);
    expect(parseToml(pasted)).toEqual({ projects: { [ws]: { trust_level: 'trusted' } } });
    git(ws, 'add', '.codex/config.toml');

    const doctor = await runCli(['doctor'], t.env);
    expect(doctor.code, doctor.stdout + doctor.stderr).toBe(0);
    expect(doctor.stdout).toMatch(/^WARNING {2}.*: \.codex\/config\.toml is tracked by git.* — fix: git -C .* update-index --skip-worktree \.codex\/config\.toml/m);
    expect(doctor.stdout).not.toMatch(/\.mcp\.json is tracked/);
    expect(doctor.stdout).toMatch(/no problems found/);

    const removed = await runCli(['remove', '--workspace', ws], t.env);
    expect(removed.code, removed.stderr).toBe(0);
    expect(readFileSync(join(ws, '.codex', 'config.toml'), 'utf8')).toBe(codexText);
    // Files exai created are gone again; the hand-written one is byte for byte as it was.
    expect(existsSync(join(ws, '.claude'))).toBe(false);
    expect(existsSync(join(ws, '.mcp.json'))).toBe(false);
    expect(existsSync(join(ws, '.gemini'))).toBe(false);
  });
});
