import { spawnSync } from 'node:child_process';
import { relative } from 'node:path';
import { clientConfigPath, readClientEntryPort, holdsOnlyExai } from '../supervisor/client-config.js';
import type { Finding } from './finding.js';
import type { RegistryEntry } from '../supervisor/registry.js';
import { shellArg } from '../common/shell.js';

/**
 * exai's entry is machine-specific (this machine's node and exai paths, this user's port), yet
 * `.vscode/mcp.json`, `.mcp.json` and the other workspace configs are often committed. For
 * each config of `entry` that holds exai's entry and is tracked by git, one warning with the
 * way to keep the entry local:
 * - the file holds nothing but exai's entry: stop tracking it and exclude it locally
 *   (`git rm --cached`, `.git/info/exclude`); no user-level config can hold a per-workspace port.
 * - the file also holds the team's settings: `git update-index --skip-worktree`, which keeps
 *   the team's copy in git and this user's edit out of commits (git-update-index(1)).
 * A config already marked skip-worktree or assume-unchanged is reported ok. No git, or a
 * workspace outside any repository: nothing to say.
 */
export function trackedConfigFindings(entry: RegistryEntry): Finding[] {
  const findings: Finding[] = [];
  for (const kind of entry.clients) {
    if (typeof readClientEntryPort(kind, entry.workspace) !== 'number') continue;
    const rel = relative(entry.workspace, clientConfigPath(kind, entry.workspace));
    const tracked = gitTracked(entry.workspace, rel);
    if (tracked === undefined) continue;
    const check = `git ${kind}`;
    if (tracked.local) {
      findings.push({ scope: entry.workspace, check, status: 'ok', message: `${rel} is tracked by git, and your edits to it stay out of commits (skip-worktree)` });
      continue;
    }
    const git = `git -C ${shellArg(entry.workspace)}`;
    const exclude = holdsOnlyExai(kind, entry.workspace) ? runGit(entry.workspace, ['rev-parse', '--path-format=absolute', '--git-path', 'info/exclude']) : undefined;
    findings.push({
      scope: entry.workspace,
      check,
      status: 'warning',
      message: `${rel} is tracked by git, and exai's entry in it is this machine's (node and exai paths, port ${entry.port}): committed, it reaches every clone`,
      fix: exclude
        ? `${git} rm --cached ${shellArg(rel)} && echo ${shellArg(`/${tracked.fullName}`)} >> ${shellArg(exclude)} (stops sharing it; it holds nothing but exai's entry)`
        : `${git} update-index --skip-worktree ${shellArg(rel)} (keeps the team's copy in git and your edit out of commits; undo with --no-skip-worktree before pulling changes to it)`,
    });
  }
  return findings;
}

/**
 * How git sees `rel` below `cwd`: undefined when untracked (also: no git, no repository);
 * else its path from the repository root and whether it is marked skip-worktree or
 * assume-unchanged (`ls-files -v` tags: H tracked, S skip-worktree, lower case assume-unchanged).
 */
function gitTracked(cwd: string, rel: string): { fullName: string; local: boolean } | undefined {
  const line = runGit(cwd, ['ls-files', '-v', '--full-name', '--', rel]);
  const match = line === undefined ? null : /^(\S) (.+)$/.exec(line);
  if (!match) return undefined;
  const tag = match[1]!;
  return { fullName: match[2]!, local: tag === 'S' || (tag >= 'a' && tag <= 'z') };
}

/** The first line git prints, or undefined when git is missing or fails. */
function runGit(cwd: string, args: string[]): string | undefined {
  const res = spawnSync('git', args, { cwd, encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] });
  const first = res.status === 0 ? res.stdout.split('\n')[0]?.trim() : undefined;
  return first ? first : undefined;
}
