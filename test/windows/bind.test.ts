/**
 * WINDOWS.md #17: a sticky port that Windows later puts inside an excluded port range (Hyper-V,
 * WSL and Docker reserve ranges, which move at boot) fails to bind with EACCES, not EADDRINUSE.
 * The daemon must report that as ADDR_IN_USE (exit 98: pm2 does not restart it, and the next
 * `exai spawn` moves the workspace), not crash into a restart loop.
 *
 * Reproduced on Linux with a privileged port bound by an unprivileged process: the same EACCES
 * from the same listen call. The tests run as root here, so the daemon's listener runs in a
 * child process as `nobody` (setpriv).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isExaiError } from '../../src/common/errors.js';
import { bindError } from '../../src/daemon/server.js';
import { ROOT } from '../helpers/env.js';
import { asNobody, rootForNobody } from '../helpers/nobody.js';

let dir: string;
beforeAll(() => {
  dir = realpathSync(mkdtempSync(join(tmpdir(), 'exai-win-bind-')));
  chmodSync(dir, 0o755);
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function errno(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`listen ${code}: 127.0.0.1:50000`), { code, syscall: 'listen' });
}

describe('a port that cannot be bound is ADDR_IN_USE (exit 98), whatever the errno (WINDOWS.md #17)', () => {
  it('EACCES (a Windows excluded port range) and EADDRNOTAVAIL map to ADDR_IN_USE with the fix; other errors pass through', () => {
    for (const code of ['EADDRINUSE', 'EACCES', 'EADDRNOTAVAIL']) {
      const mapped = bindError(errno(code), 50000);
      expect(isExaiError(mapped, 'ADDR_IN_USE'), code).toBe(true);
      expect((mapped as Error).message).toMatch(/^port 50000 on 127\.0\.0\.1 .*run `exai spawn` for this workspace to move it to a free port$/);
    }
    expect((bindError(errno('EACCES'), 50000) as Error).message).toContain('EACCES');
    const other = errno('EMFILE');
    expect(bindError(other, 50000)).toBe(other);
  });

  it.runIf(process.platform === 'linux')('the daemon listener itself, refused with EACCES by the OS, rejects with ADDR_IN_USE', () => {
    const script = join(dir, 'bind-privileged.mjs');
    // As root, the listener runs as nobody, from a checkout nobody can read (helpers/nobody.ts).
    const asRoot = process.getuid?.() === 0;
    const checkout = asRoot ? rootForNobody() : { root: ROOT, release: () => undefined };
    const dist = (p: string) => JSON.stringify(pathToFileURL(join(checkout.root, 'dist', p)).href);
    writeFileSync(
      script,
      `const { listenDaemon } = await import(${dist('daemon/server.js')});
       const { createDaemonState } = await import(${dist('daemon/state.js')});
       const { silentLogger } = await import(${dist('daemon/log.js')});
       const { workspaceFromCanonical } = await import(${dist('workspace/identity.js')});
       const state = createDaemonState(workspaceFromCanonical(${JSON.stringify(dir)}), ${JSON.stringify(dir)}, 1);
       try {
         const server = await listenDaemon({ state, token: 't', log: silentLogger, heartbeatMs: 30000 });
         console.log(JSON.stringify({ listening: server.port }));
         await server.close();
       } catch (err) {
         console.log(JSON.stringify({ name: err.name, code: err.code, cause: err.cause?.code, message: err.message }));
       }`,
    );
    chmodSync(script, 0o644);
    // Port 1 is privileged; only an unprivileged process gets EACCES for it.
    const [cmd, args] = asRoot ? asNobody(process.execPath, [script]) : [process.execPath, [script]];
    const res = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30_000 });
    checkout.release();
    expect(res.status, res.stderr).toBe(0);
    const out = JSON.parse(res.stdout.trim().split('\n').pop()!) as { name: string; code: string; cause: string; message: string };
    expect(out).toMatchObject({ name: 'ExaiError', code: 'ADDR_IN_USE', cause: 'EACCES' });
    expect(out.message).toContain('port 1 on 127.0.0.1 cannot be bound (EACCES');
  });
});
