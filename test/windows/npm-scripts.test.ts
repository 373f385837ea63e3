/**
 * WINDOWS.md #1: npm runs package scripts with cmd.exe on Windows. `chmod +x` is "not
 * recognized" there (so `npm ci` from a clone fails in `prepare`) and `VAR=1 cmd` is not cmd
 * syntax. This reads package.json and refuses POSIX-only shell syntax in any script.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/env.js';

/** Commands cmd.exe does not have (or has with another meaning: `mkdir -p`, `rm`, `cp`, `test`). */
const POSIX_COMMANDS = ['chmod', 'chown', 'rm', 'cp', 'mv', 'ln', 'mkdir', 'touch', 'cat', 'sed', 'grep', 'export', 'test', 'true', 'false', 'sh', 'bash', 'env', 'which'];

/** The reasons a script would not run under cmd.exe; empty when it is portable. */
function posixOnlySyntax(script: string): string[] {
  const problems: string[] = [];
  // Commands start the script or follow &&, ||, | or ;.
  for (const command of script.split(/&&|\|\||\||;/).map((c) => c.trim())) {
    if (/^[A-Za-z_][A-Za-z0-9_]*=/.test(command)) problems.push(`environment assignment before a command: ${JSON.stringify(command)}`);
    const first = command.split(/\s+/)[0] ?? '';
    if (POSIX_COMMANDS.includes(first)) problems.push(`POSIX-only command ${JSON.stringify(first)}`);
  }
  if (/\$\{?[A-Za-z_]/.test(script)) problems.push('a $VARIABLE (cmd.exe expands %VARIABLE%)');
  if (script.includes("'")) problems.push('single quotes (cmd.exe does not treat them as quotes)');
  if (script.includes('`')) problems.push('backticks');
  if (/;/.test(script)) problems.push('`;` as a command separator (use &&)');
  if (/(^|\s)\.\/|(^|\s)~\//.test(script)) problems.push('a ./ or ~/ path (cmd.exe runs neither)');
  return problems;
}

describe('npm scripts run under cmd.exe (WINDOWS.md #1)', () => {
  it('the checker flags the POSIX forms that broke the Windows install', () => {
    expect(posixOnlySyntax('tsc -p tsconfig.json && chmod +x dist/cli/main.js')).toEqual(['POSIX-only command "chmod"']);
    expect(posixOnlySyntax('npm run build && EXAI_STRESS=1 vitest run test/stress')).toEqual(['environment assignment before a command: "EXAI_STRESS=1 vitest run test/stress"']);
    expect(posixOnlySyntax("node -e 'x'; rm -rf dist")).toHaveLength(3);
    expect(posixOnlySyntax('npm run build && node scripts/chmod-bin.mjs')).toEqual([]);
  });

  it('no script in package.json uses POSIX-only shell syntax', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    const problems = Object.entries(pkg.scripts).flatMap(([name, script]) => posixOnlySyntax(script).map((p) => `${name}: ${p}`));
    expect(problems).toEqual([]);
  });
});
