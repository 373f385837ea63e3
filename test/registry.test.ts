import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Registry } from '../src/supervisor/registry.js';
import { childExit, makeTestEnv, ROOT, type TestEnv } from './helpers/env.js';

let t: TestEnv;
let homeCounter = 0;

beforeAll(() => {
  t = makeTestEnv();
});
afterAll(async () => {
  await t.cleanup();
});

/** A fresh EXAI_HOME per test: registries do not leak between tests. */
function freshHome(): string {
  return join(t.dir, `home${++homeCounter}`);
}

function entry(id: string, port: number) {
  const now = new Date().toISOString();
  return { workspace: `/work/${id}`, id, name: `exai-${id}-${id}`, port, pinned: false, clients: ['vscode' as const], createdAt: now, updatedAt: now };
}

describe('Registry', () => {
  it('reads a missing registry as empty without creating anything', () => {
    const home = freshHome();
    const registry = new Registry(home);
    expect(registry.file).toBe(join(home, 'registry.json'));
    expect(registry.read()).toEqual({ version: 1, workspaces: {} });
    expect(registry.get('nope')).toBeUndefined();
    expect(existsSync(home)).toBe(false);
  });

  it('writes through update(): private home and file, readable by a fresh instance, backup equal to it', async () => {
    const home = freshHome();
    const registry = new Registry(home);
    const result = await registry.update((data) => {
      data.workspaces.aaaa1111 = entry('aaaa1111', 8079);
      return 'done';
    });
    expect(result).toBe('done');
    expect(new Registry(home).get('aaaa1111')).toMatchObject({ port: 8079, workspace: '/work/aaaa1111' });
    if (process.platform !== 'win32') {
      expect(statSync(home).mode & 0o777).toBe(0o700);
      expect(statSync(registry.file).mode & 0o777).toBe(0o600);
      expect(statSync(join(home, 'registry.json.bak')).mode & 0o777).toBe(0o600);
    }
    expect(readFileSync(join(home, 'registry.json.bak'), 'utf8')).toBe(readFileSync(registry.file, 'utf8'));
  });

  it('loses no write when 4 processes x 50 do read-modify-writes through update()', async () => {
    const home = freshHome();
    const script = join(ROOT, 'test', 'fixtures', 'registry-writer.mjs');
    const procs = Array.from({ length: 4 }, (_, i) => {
      const child = spawn(process.execPath, [script, home, `p${i}`, '50'], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      return { child, stderr: () => stderr };
    });
    for (const p of procs) expect((await childExit(p.child)).code, p.stderr()).toBe(0);
    const data = new Registry(home).read();
    expect(Object.keys(data.workspaces)).toHaveLength(200);
    for (let i = 0; i < 4; i++) for (let j = 0; j < 50; j++) expect(data.workspaces[`p${i}-${j}`]).toBeDefined();
    // Each writer saw every earlier write: the counts-as-ports are exactly 1..200.
    expect(Object.values(data.workspaces).map((e) => e.port).sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, k) => k + 1));
  }, 120_000);

  it('reports a registry that is not JSON as REGISTRY_CORRUPT with the way out, and leaves it as it was', async () => {
    const home = freshHome();
    mkdirSync(home, { recursive: true });
    const file = join(home, 'registry.json');
    const garbage = '{"version": 1, "workspaces": {';
    writeFileSync(file, garbage);
    const registry = new Registry(home);
    let err: unknown;
    try {
      registry.read();
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'REGISTRY_CORRUPT' });
    expect((err as Error).message).toContain(file);
    expect((err as Error).message).toContain('exai doctor --fix');
    await expect(registry.update((data) => void (data.workspaces.x = entry('x', 1)))).rejects.toMatchObject({ code: 'REGISTRY_CORRUPT' });
    expect(readFileSync(file, 'utf8')).toBe(garbage);
  });

  it('reports valid JSON of the wrong shape as REGISTRY_CORRUPT, naming where', () => {
    const home = freshHome();
    mkdirSync(home, { recursive: true });
    const bad = { version: 1, workspaces: { abc: { ...entry('abc', 1), port: 'eighty' } } };
    writeFileSync(join(home, 'registry.json'), JSON.stringify(bad));
    expect(() => new Registry(home).read()).toThrow(/workspaces\.abc\.port/);
    expect(() => new Registry(home).read()).toThrow(expect.objectContaining({ code: 'REGISTRY_CORRUPT' }));
  });

  it('keeps the last good registry in the backup, for doctor to restore', async () => {
    const home = freshHome();
    const registry = new Registry(home);
    await registry.update((data) => void (data.workspaces.one = entry('one', 1)));
    await registry.update((data) => void (data.workspaces.two = entry('two', 2)));
    const good = registry.read();
    writeFileSync(registry.file, 'not json at all');
    expect(() => registry.read()).toThrow(expect.objectContaining({ code: 'REGISTRY_CORRUPT' }));
    expect(registry.readBackup()).toEqual(good);
    await registry.restore(good);
    expect(registry.read()).toEqual(good);
  });

  it('writes nothing when fn throws', async () => {
    const home = freshHome();
    const registry = new Registry(home);
    await registry.update((data) => void (data.workspaces.keep = entry('keep', 1)));
    const before = readFileSync(registry.file, 'utf8');
    const beforeMtime = statSync(registry.file).mtimeMs;
    await expect(
      registry.update((data) => {
        data.workspaces.lost = entry('lost', 2);
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    expect(readFileSync(registry.file, 'utf8')).toBe(before);
    expect(statSync(registry.file).mtimeMs).toBe(beforeMtime);
    expect(registry.get('lost')).toBeUndefined();
  });

  it('refuses to persist an entry that read() would reject', async () => {
    const home = freshHome();
    const registry = new Registry(home);
    await expect(
      registry.update((data) => {
        data.workspaces.bad = { ...entry('bad', 1), port: 70_000 };
      }),
    ).rejects.toMatchObject({ code: 'REGISTRY_WRITE_FAILED' });
    expect(existsSync(registry.file)).toBe(false);
  });

  it('says HOME_NOT_WRITABLE when EXAI_HOME cannot be created', async () => {
    const blocker = join(t.dir, 'a-file');
    writeFileSync(blocker, '');
    const registry = new Registry(join(blocker, 'home'));
    await expect(registry.update(() => undefined)).rejects.toMatchObject({ code: 'HOME_NOT_WRITABLE' });
  });
});
