/**
 * WINDOWS.md #14: on NTFS, mode 0700/0600 only toggles the read-only bit, so a custom
 * EXAI_HOME (C:\exai) inherits BUILTIN\Users:(RX) and every local user can read the tokens.
 * exai restricts the folders it creates with icacls. The argv and the decision are tested
 * here with an injected runner; the ACL itself needs Windows (.github/workflows/windows.yml).
 */
import { mkdtempSync, realpathSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isExaiError } from '../../src/common/errors.js';
import { ensurePrivateDir, icaclsArgs, type RunSync } from '../../src/workspace/token.js';

let dir: string;
beforeAll(() => {
  dir = realpathSync(mkdtempSync(join(tmpdir(), 'exai-win-acl-')));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function recorder(status: number | null = 0, extra: Partial<ReturnType<RunSync>> = {}) {
  const calls: [string, string[]][] = [];
  const run: RunSync = (command, args) => {
    calls.push([command, args]);
    return { status, ...extra };
  };
  return { run, calls };
}

describe('EXAI_HOME and tokens are private to the user on Windows (WINDOWS.md #14)', () => {
  it('icacls drops inherited entries and grants full control to the user and SYSTEM only, inherited by what is created inside', () => {
    expect(icaclsArgs('C:\\exai\\tokens', { domain: 'CORP', name: 'ada' })).toEqual([
      'C:\\exai\\tokens',
      '/inheritance:r',
      '/grant:r',
      'CORP\\ada:(OI)(CI)F',
      '*S-1-5-18:(OI)(CI)F',
    ]);
    expect(icaclsArgs('D:\\x', { name: 'ada' })[3]).toBe('ada:(OI)(CI)F');
  });

  it('a folder exai creates on win32 gets that ACL (USERDOMAIN\\USERNAME from the environment); one that existed is left as it is', () => {
    const { run, calls } = recorder();
    const home = join(dir, 'home1');
    ensurePrivateDir(home, { platform: 'win32', run, env: { USERDOMAIN: 'CORP', USERNAME: 'ada' } });
    expect(calls).toEqual([['icacls', [home, '/inheritance:r', '/grant:r', 'CORP\\ada:(OI)(CI)F', '*S-1-5-18:(OI)(CI)F']]]);
    ensurePrivateDir(home, { platform: 'win32', run, env: { USERDOMAIN: 'CORP', USERNAME: 'ada' } });
    expect(calls).toHaveLength(1);
    // A tokens folder made later inside an existing home is restricted on its own.
    ensurePrivateDir(join(home, 'tokens'), { platform: 'win32', run, env: { USERNAME: 'ada' } });
    expect(calls[1]).toEqual(['icacls', [join(home, 'tokens'), '/inheritance:r', '/grant:r', 'ada:(OI)(CI)F', '*S-1-5-18:(OI)(CI)F']]);
  });

  it('when icacls fails, the command stops with HOME_NOT_WRITABLE naming icacls and the fix (no token in a folder others can read)', () => {
    const { run } = recorder(5, { stderr: 'Access is denied.\r\nSuccessfully processed 0 files' });
    let err: unknown;
    try {
      ensurePrivateDir(join(dir, 'home2'), { platform: 'win32', run, env: { USERNAME: 'ada' } });
    } catch (e) {
      err = e;
    }
    expect(isExaiError(err, 'HOME_NOT_WRITABLE')).toBe(true);
    expect((err as Error).message).toMatch(/^cannot restrict .*home2" to your user \(icacls: Access is denied\.\); .*EXAI_HOME/);
  });

  it('on Linux no icacls runs, and the folder is 0700', () => {
    const { run, calls } = recorder();
    const home = join(dir, 'home3');
    ensurePrivateDir(home, { platform: 'linux', run });
    expect(calls).toEqual([]);
    expect(statSync(home).mode & 0o777).toBe(0o700);
  });
});
