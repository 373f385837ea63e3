/**
 * Windows path logic run on Linux: `platform: 'win32'`, `path.win32` spellings, and injected
 * realpath/exists where the OS behaviour differs (WINDOWS.md #4, #6, #15, #27, #28, #29).
 */
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { homePath } from '../../src/cli/format.js';
import { isExaiError } from '../../src/common/errors.js';
import { nodeExecutable } from '../../src/common/install.js';
import { selectEntries } from '../../src/fleet/select.js';
import { Registry } from '../../src/supervisor/registry.js';
import { comparisonKey, resolveWorkspace, workspaceFromCanonical, workspaceId } from '../../src/workspace/identity.js';
import { defaultExaiHome, resolveExaiHome, stateDirsEnv } from '../../src/workspace/layout.js';

let dir: string;
beforeAll(() => {
  dir = realpathSync(mkdtempSync(join(tmpdir(), 'exai-win-paths-')));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function errno(code: string, path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${path}`), { code, path });
}

describe('realpath fallbacks (WINDOWS.md #4)', () => {
  it('native realpath failing with EISDIR (ImDisk RAM disks, virtual drives) falls back to the JS realpath: same folder, same id', () => {
    const real = join(dir, 'real-ws');
    mkdirSync(real);
    const link = join(dir, 'link-ws');
    symlinkSync(real, link);
    const jsCalls: string[] = [];
    const ws = resolveWorkspace(link, dir, {
      native: (p) => {
        throw errno('EISDIR', p);
      },
      js: (p) => {
        jsCalls.push(p);
        return realpathSync(p);
      },
    });
    expect(jsCalls).toEqual([link]);
    expect(ws.path).toBe(real);
    expect(ws.id).toBe(resolveWorkspace(real).id);
  });

  it('when the JS realpath fails too, the resolved path itself is the canonical one (it still has to be a directory)', () => {
    const ws = resolveWorkspace('./real-ws/', dir, {
      native: (p) => {
        throw errno('EISDIR', p);
      },
      js: (p) => {
        throw errno('EPERM', p);
      },
    });
    expect(ws.path).toBe(join(dir, 'real-ws'));
    writeFileSync(join(dir, 'a-file'), '');
    const refuse = (p: string) => {
      throw errno('EISDIR', p);
    };
    expect(() => resolveWorkspace('a-file', dir, { native: refuse, js: refuse })).toThrow(/is not a directory/);
  });

  it('a missing folder (ENOENT) is WORKSPACE_NOT_FOUND at once; no fallback is tried', () => {
    let jsCalled = false;
    let err: unknown;
    try {
      resolveWorkspace('nope', dir, {
        native: (p) => {
          throw errno('ENOENT', p);
        },
        js: (p) => {
          jsCalled = true;
          return p;
        },
      });
    } catch (e) {
      err = e;
    }
    expect(isExaiError(err, 'WORKSPACE_NOT_FOUND')).toBe(true);
    expect((err as Error).message).toContain('(ENOENT)');
    expect(jsCalled).toBe(false);
  });
});

describe('workspace identity per platform (WINDOWS.md #27)', () => {
  it('on win32 the comparison key folds case and separators: C:\\Users\\Ada\\Proj and c:/users/ada/proj are one workspace', () => {
    expect(comparisonKey('C:\\Users\\Ada\\Proj', 'win32')).toBe('c:/users/ada/proj');
    expect(workspaceId('C:\\Users\\Ada\\Proj', 'win32')).toBe(workspaceId('c:/users/ada/proj', 'win32'));
    expect(workspaceFromCanonical('C:\\Users\\Ada\\Proj', 'win32').name).toBe(`exai-proj-${workspaceId('c:\\users\\ada\\proj', 'win32')}`);
  });

  it('on Linux case is significant: /srv/Proj and /srv/proj are two workspaces', () => {
    expect(comparisonKey('/srv/Proj', 'linux')).toBe('/srv/Proj');
    expect(workspaceId('/srv/Proj', 'linux')).not.toBe(workspaceId('/srv/proj', 'linux'));
    expect(workspaceId('/srv/Proj', 'darwin')).toBe(workspaceId('/srv/proj', 'darwin'));
  });
});

describe('stop/remove of a deleted folder on Windows (WINDOWS.md #28)', () => {
  it('a gone folder named in another case or with / separators still finds its registry entry', async () => {
    const home = join(dir, 'fleet-home');
    const registry = new Registry(home);
    const recorded = 'C:\\Users\\Ada\\Projects\\Gone';
    const ws = workspaceFromCanonical(recorded, 'win32');
    const now = new Date().toISOString();
    await registry.update((data) => {
      data.workspaces[ws.id] = { workspace: recorded, id: ws.id, name: ws.name, port: 8079, pinned: false, clients: [], createdAt: now, updatedAt: now };
    });
    for (const named of ['c:\\users\\ada\\projects\\gone', 'C:/Users/Ada/Projects/Gone/', 'c:\\Users\\ADA\\Projects\\Gone\\']) {
      expect(selectEntries(registry, { workspace: named }, 'win32').map((e) => e.id), named).toEqual([ws.id]);
    }
    let err: unknown;
    try {
      selectEntries(registry, { workspace: 'C:\\Users\\Ada\\Projects\\Other' }, 'win32');
    } catch (e) {
      err = e;
    }
    expect(isExaiError(err, 'WORKSPACE_NOT_REGISTERED')).toBe(true);
  });
});

describe('`~` in exai list on Windows (WINDOWS.md #29)', () => {
  it('shortens paths under the profile with a backslash, whatever the case of the drive and user name', () => {
    expect(homePath('C:\\Users\\Ada\\src\\proj', 'C:\\Users\\ada', 'win32')).toBe('~\\src\\proj');
    expect(homePath('c:\\users\\ada\\src\\proj', 'C:\\Users\\Ada', 'win32')).toBe('~\\src\\proj');
    expect(homePath('C:\\Users\\Adam\\proj', 'C:\\Users\\Ada', 'win32')).toBe('C:\\Users\\Adam\\proj');
  });

  it('on Linux the prefix stays case-sensitive and `/`-separated', () => {
    expect(homePath('/home/ada/src/proj', '/home/ada', 'linux')).toBe('~/src/proj');
    expect(homePath('/home/ADA/src/proj', '/home/ada', 'linux')).toBe('/home/ADA/src/proj');
  });
});

describe('default EXAI_HOME on Windows (WINDOWS.md #15)', () => {
  const env = { USERPROFILE: 'C:\\Users\\ada', APPDATA: 'C:\\Users\\ada\\AppData\\Roaming', LOCALAPPDATA: 'C:\\Users\\ada\\AppData\\Local' };
  const LOCAL = 'C:\\Users\\ada\\AppData\\Local\\exai';
  const ROAMING = 'C:\\Users\\ada\\AppData\\Roaming\\exai\\Config';

  it('is %LOCALAPPDATA%\\exai (not the roaming profile), also without LOCALAPPDATA set', () => {
    expect(defaultExaiHome(env, 'win32', () => false)).toBe(LOCAL);
    expect(defaultExaiHome({ USERPROFILE: 'C:\\Users\\ada' }, 'win32', () => false)).toBe(LOCAL);
    expect(resolveExaiHome(env, 'win32')).toBe(defaultExaiHome(env, 'win32'));
    expect(resolveExaiHome({ ...env, EXAI_HOME: 'D:\\tools\\exai\\' }, 'win32')).toBe('D:\\tools\\exai');
  });

  it('an existing old %APPDATA%\\exai\\Config with a registry stays the default until %LOCALAPPDATA%\\exai exists', () => {
    const oldOnly = (p: string) => p === `${ROAMING}\\registry.json`;
    expect(defaultExaiHome(env, 'win32', oldOnly)).toBe(ROAMING);
    const both = (p: string) => oldOnly(p) || p === LOCAL;
    expect(defaultExaiHome(env, 'win32', both)).toBe(LOCAL);
    // An empty old folder (no registry) is not kept.
    expect(defaultExaiHome(env, 'win32', (p) => p === ROAMING)).toBe(LOCAL);
  });

  it('client configs leave EXAI_HOME out exactly when the shim, with the SDK\'s bare Windows env, would pick the same home', () => {
    const pm2Home = 'C:\\Users\\ada\\.pm2';
    expect(stateDirsEnv({ home: LOCAL, pm2Home }, 'win32', env).EXAI_HOME).toBeUndefined();
    expect(stateDirsEnv({ home: ROAMING, pm2Home }, 'win32', env).EXAI_HOME).toBe(ROAMING);
    expect(stateDirsEnv({ home: 'D:\\exai', pm2Home }, 'win32', env).EXAI_HOME).toBe('D:\\exai');
  });
});

describe('the node path written for editors and pm2 outlives the shell (WINDOWS.md #6)', () => {
  const fnmWin = 'C:\\Users\\ada\\AppData\\Local\\fnm_multishells\\13324_1764460000000\\node.exe';

  it('fnm\'s per-shell link on Windows resolves to the installation it points at', () => {
    const installed = 'C:\\Users\\ada\\AppData\\Roaming\\fnm\\node-versions\\v20.19.0\\installation\\node.exe';
    expect(nodeExecutable({ platform: 'win32', execPath: fnmWin, env: {}, realpath: () => installed })).toBe(installed);
  });

  it('when the link is gone already, fnm\'s default alias (FNM_DIR, else %APPDATA%\\fnm) is used if it exists', () => {
    const gone = () => {
      throw errno('ENOENT', fnmWin);
    };
    const alias = 'D:\\fnm\\aliases\\default\\node.exe';
    expect(nodeExecutable({ platform: 'win32', execPath: fnmWin, env: { FNM_DIR: 'D:\\fnm' }, realpath: gone, exists: (p) => p === alias })).toBe(alias);
    const roamingAlias = 'C:\\Users\\ada\\AppData\\Roaming\\fnm\\aliases\\default\\node.exe';
    expect(nodeExecutable({ platform: 'win32', execPath: fnmWin, env: { APPDATA: 'C:\\Users\\ada\\AppData\\Roaming' }, realpath: gone, exists: (p) => p === roamingAlias })).toBe(roamingAlias);
    expect(nodeExecutable({ platform: 'win32', execPath: fnmWin, env: {}, realpath: gone, exists: () => false })).toBe(fnmWin);
  });

  it('a stable node (the MSI, nvm-windows\' symlink) is kept as it is, not resolved', () => {
    const realpath = () => 'C:\\Users\\ada\\AppData\\Roaming\\nvm\\v20.19.0\\node.exe';
    expect(nodeExecutable({ platform: 'win32', execPath: 'C:\\Program Files\\nodejs\\node.exe', env: {}, realpath })).toBe('C:\\Program Files\\nodejs\\node.exe');
  });

  it('on a real file system: a path through fnm_multishells/<id> (a symlink) becomes the installation\'s path', () => {
    const installation = join(dir, 'fnm', 'node-versions', 'v20.19.0', 'installation');
    mkdirSync(join(installation, 'bin'), { recursive: true });
    writeFileSync(join(installation, 'bin', 'node'), '');
    mkdirSync(join(dir, 'fnm_multishells'));
    symlinkSync(installation, join(dir, 'fnm_multishells', '4242_1764460000000'));
    const execPath = join(dir, 'fnm_multishells', '4242_1764460000000', 'bin', 'node');
    expect(nodeExecutable({ platform: 'linux', execPath, env: {} })).toBe(join(installation, 'bin', 'node'));
    expect(nodeExecutable()).toBe(process.execPath);
  });
});
