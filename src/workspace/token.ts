import { randomBytes, timingSafeEqual, createHash } from 'node:crypto';
import { chmodSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { ExaiError, errnoCode, homeWriteAdvice } from '../common/errors.js';
import { homeLayout } from './layout.js';

/** EXAI_HOME and its token folder are private to the user: 0700. */
export function ensurePrivateDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
  } catch (err) {
    throw new ExaiError(
      'HOME_NOT_WRITABLE',
      `cannot create ${JSON.stringify(dir)} (${errnoCode(err) ?? String(err)}); make it writable or set EXAI_HOME to a writable directory`,
      { cause: err },
    );
  }
}

/**
 * The workspace's bearer token (256 random bits, hex), created on first need. Creation is
 * race-free across processes: the token is written to a private temp file and hard-linked
 * into place, so two creators agree on whichever link won.
 */
export function ensureToken(home: string, id: string): string {
  const layout = homeLayout(home);
  const existing = readToken(home, id);
  if (existing !== undefined) return existing;
  ensurePrivateDir(home);
  ensurePrivateDir(layout.tokens);
  const file = layout.tokenFile(id);
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    writeFileSync(temp, randomBytes(32).toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
    try {
      linkSync(temp, file);
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw err;
    }
  } catch (err) {
    throw new ExaiError(
      'HOME_NOT_WRITABLE',
      `cannot write the token file in ${JSON.stringify(layout.tokens)} (${errnoCode(err) ?? String(err)}); ${homeWriteAdvice(err)}`,
      { cause: err },
    );
  } finally {
    rmSync(temp, { force: true });
  }
  const token = readToken(home, id);
  if (token === undefined) {
    throw new ExaiError('TOKEN_MISSING', `token file ${JSON.stringify(file)} vanished while being created; run the command again`);
  }
  return token;
}

export function readToken(home: string, id: string): string | undefined {
  try {
    const token = readFileSync(homeLayout(home).tokenFile(id), 'utf8').trim();
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
  rmSync(homeLayout(home).tokenFile(id), { force: true });
}

/** Constant-time comparison; hashing first makes the lengths equal without leaking them. */
export function tokensEqual(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}
