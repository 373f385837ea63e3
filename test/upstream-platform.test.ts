/**
 * The Windows side of running upstreams (docs/WINDOWS.md #8, #16, #25, #26), exercised on any
 * OS with the platform passed in: how a tree is stopped, which variables an upstream inherits,
 * how a servers.json entry's variables merge, how a command is found, how stderr is read.
 * The POSIX side of the same functions runs for real in upstream-process.test.ts.
 */
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { parseServersConfig } from '../src/daemon/upstreams/config.js';
import { upstreamEnv } from '../src/daemon/upstreams/env.js';
import { decodeLine, killStep, resolveCommand, runKillStep, spawnCwd, spawnOptions, treeAlive } from '../src/transport/process-tree.js';

describe('stopping a process tree', () => {
  it('POSIX: the server leads its own process group, and every step signals the group', () => {
    expect(spawnOptions('linux')).toEqual({ detached: true, windowsHide: true });
    expect(killStep(4242, 'SIGTERM', 'linux')).toEqual({ kind: 'group', pgid: 4242, signal: 'SIGTERM' });
    expect(killStep(4242, 'SIGKILL', 'darwin')).toEqual({ kind: 'group', pgid: 4242, signal: 'SIGKILL' });
    const signals: [number, NodeJS.Signals | 0][] = [];
    runKillStep(killStep(4242, 'SIGTERM', 'linux')!, {
      kill: (pid, signal) => signals.push([pid, signal]),
      spawn: () => {
        throw new Error('no taskkill on POSIX');
      },
    });
    expect(signals).toEqual([[-4242, 'SIGTERM']]);
  });

  it('Windows: no new console, no graceful step, and the kill is taskkill /PID <pid> /T /F without a window', () => {
    expect(spawnOptions('win32')).toEqual({ detached: false, windowsHide: true });
    expect(killStep(4242, 'SIGTERM', 'win32')).toBeNull();
    const step = killStep(4242, 'SIGKILL', 'win32')!;
    expect(step).toEqual({ kind: 'taskkill', file: 'taskkill', args: ['/PID', '4242', '/T', '/F'], options: { windowsHide: true, stdio: 'ignore' } });
    const spawned: { file: string; args: string[]; options: SpawnOptions }[] = [];
    runKillStep(step, {
      kill: () => {
        throw new Error('process.kill cannot stop a tree on Windows');
      },
      spawn: (file, args, options) => {
        spawned.push({ file, args, options });
        return { on: () => undefined } as unknown as ChildProcess;
      },
    });
    expect(spawned).toEqual([{ file: 'taskkill', args: ['/PID', '4242', '/T', '/F'], options: { windowsHide: true, stdio: 'ignore' } }]);
    // Nothing on Windows can tell whether a tree still lives; taskkill /T is the last word.
    expect(treeAlive(4242, 'win32', () => undefined)).toBe(false);
  });

  it('POSIX: a group is alive while kill(-pgid, 0) succeeds or is refused (EPERM), gone on ESRCH', () => {
    const error = (code: string) => () => {
      throw Object.assign(new Error(code), { code });
    };
    expect(treeAlive(7, 'linux', () => undefined)).toBe(true);
    expect(treeAlive(7, 'linux', error('EPERM'))).toBe(true);
    expect(treeAlive(7, 'linux', error('ESRCH'))).toBe(false);
  });
});

describe('the environment an upstream gets', () => {
  const windowsEnv = {
    Path: 'C:\\Windows\\system32;C:\\tools',
    SystemRoot: 'C:\\Windows',
    windir: 'C:\\Windows',
    SystemDrive: 'C:',
    ProgramFiles: 'C:\\Program Files',
    'ProgramFiles(x86)': 'C:\\Program Files (x86)',
    ProgramW6432: 'C:\\Program Files',
    ProgramData: 'C:\\ProgramData',
    CommonProgramFiles: 'C:\\Program Files\\Common Files',
    'CommonProgramFiles(x86)': 'C:\\Program Files (x86)\\Common Files',
    CommonProgramW6432: 'C:\\Program Files\\Common Files',
    ALLUSERSPROFILE: 'C:\\ProgramData',
    PUBLIC: 'C:\\Users\\Public',
    HOMEDRIVE: 'C:',
    HOMEPATH: '\\Users\\ada',
    USERNAME: 'ada',
    USERDOMAIN: 'LAB',
    COMPUTERNAME: 'LAB-7',
    PROCESSOR_ARCHITECTURE: 'AMD64',
    NUMBER_OF_PROCESSORS: '8',
    OS: 'Windows_NT',
    PSModulePath: 'C:\\Program Files\\WindowsPowerShell\\Modules',
    ComSpec: 'C:\\Windows\\system32\\cmd.exe',
    PATHEXT: '.COM;.EXE;.BAT;.CMD',
    APPDATA: 'C:\\Users\\ada\\AppData\\Roaming',
    LOCALAPPDATA: 'C:\\Users\\ada\\AppData\\Local',
    USERPROFILE: 'C:\\Users\\ada',
    TEMP: 'C:\\Users\\ada\\AppData\\Local\\Temp',
    AWS_SECRET_ACCESS_KEY: 'not for upstreams',
    EXAI_HOME: 'C:\\Users\\ada\\AppData\\Local\\exai',
  };

  it('Windows: the variables programs use to find themselves and each other pass; secrets and exai state do not', () => {
    const env = upstreamEnv({}, windowsEnv, 'win32');
    const { AWS_SECRET_ACCESS_KEY: _secret, EXAI_HOME: _home, ...expected } = windowsEnv;
    expect(env).toEqual(expected);
  });

  it('POSIX: the SDK default set, locale and temp folders pass; nothing else', () => {
    const base = { HOME: '/home/ada', PATH: '/usr/bin', USER: 'ada', LANG: 'C.UTF-8', TMPDIR: '/tmp/x', XDG_RUNTIME_DIR: '/run/user/1', SECRET: 's', ProgramFiles: 'C:\\x', BASH_FUNC_x: '() { :; }' };
    expect(upstreamEnv({}, base, 'linux')).toEqual({ HOME: '/home/ada', PATH: '/usr/bin', USER: 'ada', LANG: 'C.UTF-8', TMPDIR: '/tmp/x', XDG_RUNTIME_DIR: '/run/user/1' });
  });

  it("Windows: an entry's own variable replaces the inherited one whatever its case; POSIX keeps both spellings", () => {
    const env = upstreamEnv({ PATH: 'D:\\mine', temp: 'D:\\tmp' }, { Path: 'C:\\Windows', TEMP: 'C:\\Temp' }, 'win32');
    expect(env).toEqual({ PATH: 'D:\\mine', temp: 'D:\\tmp' });
    expect(upstreamEnv({ Path: '/mine' }, { PATH: '/usr/bin' }, 'linux')).toEqual({ PATH: '/usr/bin', Path: '/mine' });
  });

  it('Windows: ${env:NAME} takes names with parentheses, in any case; POSIX leaves such a reference as text', () => {
    const text = JSON.stringify({
      servers: { chrome: { command: 'node', args: ['${env:ProgramFiles(x86)}\\Google', '${env:programfiles}'] } },
    });
    const windows = parseServersConfig(text, 'C:\\ws', 'C:\\ws\\.exai\\servers.json', { env: windowsEnv, platform: 'win32' });
    expect(windows.ok && windows.specs[0]?.args).toEqual(['C:\\Program Files (x86)\\Google', 'C:\\Program Files']);
    const posix = parseServersConfig(text, '/ws', '/ws/.exai/servers.json', { env: { programfiles: '/pf' }, platform: 'linux' });
    expect(posix.ok && posix.specs[0]?.args).toEqual(['${env:ProgramFiles(x86)}\\Google', '/pf']);
  });
});

describe('finding the command (Windows resolves it first: cmd.exe never says ENOENT)', () => {
  // NTFS matches names whatever their case.
  const files = new Set(['c:\\tools\\npx.cmd', 'c:\\windows\\system32\\where.exe', 'c:\\ws\\bin\\server.bat']);
  const exists = (file: string) => files.has(file.toLowerCase());
  const env = { Path: 'C:\\Windows\\system32;"C:\\tools"', PATHEXT: '.COM;.EXE;.BAT;.CMD' };

  it('searches PATH (any case, quoted entries) with each PATHEXT extension', () => {
    expect(resolveCommand('npx', { cwd: 'C:\\ws', env, platform: 'win32', exists })).toBe('C:\\tools\\npx.CMD');
    expect(resolveCommand('where', { cwd: 'C:\\ws', env, platform: 'win32', exists })).toBe('C:\\Windows\\system32\\where.EXE');
    expect(resolveCommand('where.exe', { cwd: 'C:\\ws', env, platform: 'win32', exists })).toBe('C:\\Windows\\system32\\where.exe');
  });

  it('resolves a path relative to the cwd, and says undefined (not found) when nothing matches', () => {
    expect(resolveCommand('bin\\server', { cwd: 'C:\\ws', env, platform: 'win32', exists })).toBe('C:\\ws\\bin\\server.BAT');
    expect(resolveCommand('uvx', { cwd: 'C:\\ws', env, platform: 'win32', exists })).toBeUndefined();
  });

  it('leaves the command to spawn on POSIX (its ENOENT is reliable there)', () => {
    expect(resolveCommand('uvx', { cwd: '/ws', env: {}, platform: 'linux', exists: () => false })).toBe('uvx');
  });
});

describe('reading stderr', () => {
  it('Windows: a line that is not UTF-8 (the OEM code page) reads as latin1; UTF-8 stays UTF-8', () => {
    const oem = Buffer.from([0x46, 0x65, 0x68, 0x6c, 0x65, 0x72, 0x3a, 0x20, 0x84, 0x6e, 0x64, 0x65, 0x72, 0x75, 0x6e, 0x67]); // "Fehler: Änderung" in CP850
    expect(decodeLine(oem, 'win32')).toBe('Fehler: \u0084nderung');
    expect(decodeLine(oem, 'win32')).not.toContain('\ufffd');
    expect(decodeLine(Buffer.from('Fehler: Änderung'), 'win32')).toBe('Fehler: Änderung');
    expect(decodeLine(Buffer.from('Fehler: Änderung'), 'linux')).toBe('Fehler: Änderung');
  });
});

describe('a deep working folder (WINDOWS.md #5)', () => {
  const deep = `C:\\Users\\someone\\${'a-rather-long-folder-name\\'.repeat(10)}workspace`;

  it('is passed in its \\\\?\\ form on Windows, with a reason to give if the start fails anyway', () => {
    expect(deep.length).toBeGreaterThanOrEqual(248);
    const folder = spawnCwd(deep, 'win32');
    expect(folder.cwd).toBe(`\\\\?\\${deep}`);
    expect(folder.problem).toMatch(new RegExp(`working folder is ${deep.length} characters long.*shorter "cwd"`));
  });

  it('is left alone when short, and everywhere but Windows', () => {
    expect(spawnCwd('C:\\work\\ws', 'win32')).toEqual({ cwd: 'C:\\work\\ws' });
    expect(spawnCwd(`/home/someone/${'x/'.repeat(200)}ws`, 'linux').problem).toBeUndefined();
  });
});
