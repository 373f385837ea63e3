import { spawnSync } from 'node:child_process';
import { randomBytes, timingSafeEqual, createHash } from 'node:crypto';
import * as nodeFs from 'node:fs';
import { userInfo } from 'node:os';
import { isFileContention, removeQuietly, sleepSync } from '../common/contention.js';
import { ExaiError, errnoCode, homeWriteAdvice } from '../common/errors.js';
import { homeLayout } from './layout.js';
import { monotonicNow } from '../common/clock.js';

/** Runs a program to completion (spawnSync's shape, narrowed); tests inject a fake. */
export type RunSync = (command: string, args: string[]) => { status: number | null; error?: Error; stdout?: string; stderr?: string };

export interface PrivateDirOptions {
  /** Default: the running platform. */
  platform?: NodeJS.Platform;
  /** Runs icacls on Windows; default spawnSync with windowsHide. */
  run?: RunSync;
  /** USERDOMAIN (and USERNAME when the OS does not say) on Windows; default process.env. */
  env?: NodeJS.ProcessEnv;
}

const runHidden: RunSync = (command, args) => spawnSync(command, args, { encoding: 'utf8', windowsHide: true, timeout: 30_000 });

/**
 * The icacls arguments that make `dir` readable by the current user and SYSTEM only: inherited
 * entries removed (`/inheritance:r`), full control granted to both (`/grant:r`), inherited by
 * files (OI) and folders (CI) created inside. On NTFS the mode bits do nothing but toggle
 * read-only (Node fs docs, "File modes"), so a custom EXAI_HOME such as `C:\exai` would
 * otherwise inherit `BUILTIN\Users:(RX)` and let every local user read the tokens
 * (WINDOWS.md #14). S-1-5-18 is LocalSystem (Microsoft, "Well-known SIDs").
 */
export function icaclsArgs(dir: string, user: { domain?: string; name: string }): string[] {
  const account = user.domain ? `${user.domain}\\${user.name}` : user.name;
  return [dir, '/inheritance:r', '/grant:r', `${account}:(OI)(CI)F`, '*S-1-5-18:(OI)(CI)F'];
}

/**
 * EXAI_HOME and its token folder are private to the user: 0700 on POSIX; on Windows, when
 * this call creates the folder, an ACL for the user and SYSTEM only (icacls, see icaclsArgs).
 * A folder that already existed keeps its ACL (`exai doctor` is the place to check it).
 * Errors: HOME_NOT_WRITABLE, also when icacls fails (a token folder that others can read is
 * not used).
 */
export function ensurePrivateDir(dir: string, opts: PrivateDirOptions = {}): void {
  const platform = opts.platform ?? process.platform;
  let created: string | undefined;
  try {
    created = nodeFs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    nodeFs.chmodSync(dir, 0o700);
  } catch (err) {
    throw new ExaiError(
      'HOME_NOT_WRITABLE',
      `cannot create ${JSON.stringify(dir)} (${errnoCode(err) ?? String(err)}); make it writable or set EXAI_HOME to a writable directory`,
      { cause: err },
    );
  }
  if (platform !== 'win32' || created === undefined) return;
  const env = opts.env ?? process.env;
  const args = icaclsArgs(dir, { domain: env.USERDOMAIN, name: env.USERNAME ?? userInfo().username });
  const res = (opts.run ?? runHidden)('icacls', args);
  if (res.status !== 0) {
    const why = res.error?.message ?? (res.stderr || res.stdout || `exit ${res.status}`).trim().split(/\r?\n/)[0];
    throw new ExaiError(
      'HOME_NOT_WRITABLE',
      `cannot restrict ${JSON.stringify(dir)} to your user (icacls: ${why}); delete that folder and run the command again, or set EXAI_HOME to a folder under your profile`,
    );
  }
}

/** The synchronous node:fs calls token creation makes (tests inject Windows' errors). */
export type TokenFs = Pick<typeof nodeFs, 'writeFileSync' | 'linkSync' | 'rmSync'>;

/** How long token creation rides out Windows' "file busy" on the hard link (WINDOWS.md #13). */
const LINK_CONTENTION_MS = 2_000;

/**
 * The workspace's bearer token (256 random bits, hex), created on first need. Creation is
 * race-free across processes: the token is written to a private temp file and hard-linked
 * into place, so two creators agree on whichever link won. On Windows a link that fails with
 * EPERM/EBUSY/EACCES (a token file pending delete, a scanner) is retried for up to 2 s.
 * Errors: HOME_NOT_WRITABLE, TOKEN_MISSING.
 */
export function ensureToken(home: string, id: string, io: { fs?: TokenFs; platform?: NodeJS.Platform } = {}): string {
  const fs = io.fs ?? nodeFs;
  const platform = io.platform ?? process.platform;
  const layout = homeLayout(home);
  const existing = readToken(home, id);
  if (existing !== undefined) return existing;
  ensurePrivateDir(home);
  ensurePrivateDir(layout.tokens);
  const file = layout.tokenFile(id);
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    fs.writeFileSync(temp, randomBytes(32).toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
    const deadline = monotonicNow() + LINK_CONTENTION_MS;
    for (let attempt = 1; ; attempt++) {
      try {
        fs.linkSync(temp, file);
        break;
      } catch (err) {
        if (errnoCode(err) === 'EEXIST') break;
        if (!isFileContention(err, platform) || monotonicNow() >= deadline) throw err;
        sleepSync(Math.min(10 * attempt, 100));
      }
    }
  } catch (err) {
    throw new ExaiError(
      'HOME_NOT_WRITABLE',
      `cannot write the token file in ${JSON.stringify(layout.tokens)} (${errnoCode(err) ?? String(err)}); ${homeWriteAdvice(err)}`,
      { cause: err },
    );
  } finally {
    // A temp file left behind is harmless; an error here would hide the token just made.
    removeQuietly(temp, fs.rmSync, platform);
  }
  const token = readToken(home, id);
  if (token === undefined) {
    throw new ExaiError('TOKEN_MISSING', `token file ${JSON.stringify(file)} vanished while being created; run the command again`);
  }
  return token;
}

export function readToken(home: string, id: string): string | undefined {
  try {
    const token = nodeFs.readFileSync(homeLayout(home).tokenFile(id), 'utf8').trim();
    return token === '' ? undefined : token;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw new ExaiError(
      'TOKEN_MISSING',
      `cannot read the token of workspace ${id} (${errnoCode(err) ?? String(err)}); check the permissions of EXAI_HOME`,
      { cause: err },
    );
  }
}

export function deleteToken(home: string, id: string): void {
  nodeFs.rmSync(homeLayout(home).tokenFile(id), { force: true });
}

/** Constant-time comparison; hashing first makes the lengths equal without leaking them. */
export function tokensEqual(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}
