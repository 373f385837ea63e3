import { homedir } from 'node:os';
import { basename } from 'node:path';
import { envValue, type Platform } from '../../transport/process-tree.js';

/**
 * The `${…}` placeholders of servers.json (README "upstreams"). The file takes entries copied
 * from VS Code's mcp.json and from Claude Code's .mcp.json, so it reads both conventions:
 *
 * - `${workspaceFolder}` (and its old name `${workspaceRoot}`), `${workspaceFolderBasename}`,
 *   `${userHome}`, `${pathSeparator}` and `${/}`: as VS Code expands them.
 * - `${env:NAME}` (VS Code) and a bare `${NAME}` or `${NAME:-default}` (Claude Code): the
 *   daemon's environment variable NAME, which `exai spawn --pass-env NAME` hands it. Unset,
 *   `${NAME:-default}` gives `default`, the others an empty string (spawn, list and doctor warn).
 *   A Windows name such as `${env:ProgramFiles(x86)}` stays text on other systems, as it was.
 * - Everything else is refused, naming the placeholder and what to write instead: VS Code's
 *   `${input:…}`, `${command:…}` and `${config:…}` need an editor to answer them, and so do its
 *   editor variables (`${file}`, `${selectedText}`, …), which would otherwise pass for a
 *   variable of that name.
 *
 * Kept free of zod: `exai spawn` scans for variables on its reuse path, where every module counts.
 */

/** Where `${env:NAME}` and `${NAME}` look names up, whose home `${userHome}` is, by which platform's rules (tests pass Windows). */
export interface SubstitutionContext {
  env?: NodeJS.ProcessEnv;
  platform?: Platform;
  /** `${userHome}`; default: the HOME (USERPROFILE on Windows) of `env`, else the OS's. */
  home?: string;
}

export type Expansion =
  | { readonly ok: true; readonly value: string; /** Variables it read that had no value (and no default). */ readonly unset: readonly string[] }
  /** One line naming the placeholder and what to write instead. */
  | { readonly ok: false; readonly error: string };

/** VS Code's variables that name something in the editor (its variables reference); exai has no editor. */
const EDITOR_VARIABLES = new Set([
  'file', 'fileWorkspaceFolder', 'fileWorkspaceFolderBasename', 'relativeFile', 'relativeFileDirname', 'fileBasename',
  'fileBasenameNoExtension', 'fileExtname', 'fileDirname', 'fileDirnameBasename', 'cwd', 'lineNumber', 'columnNumber',
  'selectedText', 'execPath', 'defaultBuildTask', 'extensionInstallFolder',
]);

const PLACEHOLDER = /\$\{([^}]*)\}/g;

function namePattern(platform: Platform): RegExp {
  // On Windows names may hold parentheses (`ProgramFiles(x86)`) and match whatever their case.
  return platform === 'win32' ? /^[A-Za-z_][A-Za-z0-9_()]*$/ : /^[A-Za-z_][A-Za-z0-9_]*$/;
}

/** Expands every placeholder of `value`, or says which one cannot be. */
export function expandPlaceholders(value: string, workspace: string, context: SubstitutionContext = {}): Expansion {
  const env = context.env ?? process.env;
  const platform = context.platform ?? process.platform;
  const unset: string[] = [];
  let error: string | undefined;
  const variable = (name: string, fallback?: string): string => {
    const found = envValue(env, name, platform);
    if (found !== undefined) return found;
    if (fallback !== undefined) return fallback;
    if (!unset.includes(name)) unset.push(name);
    return '';
  };
  const expanded = value.replace(PLACEHOLDER, (whole: string, inner: string) => {
    if (error !== undefined) return whole;
    const meaning = resolve(inner, platform);
    switch (meaning.kind) {
      case 'workspace':
        return workspace;
      case 'workspaceBasename':
        return basename(workspace);
      case 'home':
        return context.home ?? (platform === 'win32' ? envValue(env, 'USERPROFILE', platform) : env.HOME) ?? homedir();
      case 'separator':
        return platform === 'win32' ? '\\' : '/';
      case 'literal':
        return whole;
      case 'variable':
        return variable(meaning.name, meaning.fallback);
      case 'refused':
        error = `${whole} ${meaning.why}`;
        return whole;
    }
  });
  return error === undefined ? { ok: true, value: expanded, unset } : { ok: false, error };
}

type Meaning =
  | { kind: 'workspace' | 'workspaceBasename' | 'home' | 'separator' | 'literal' }
  | { kind: 'variable'; name: string; fallback?: string }
  | { kind: 'refused'; why: string };

const ENV_ADVICE = 'put the value in an environment variable and write ${env:NAME} (passed with exai spawn --pass-env NAME)';

function resolve(inner: string, platform: Platform): Meaning {
  if (inner === 'workspaceFolder' || inner === 'workspaceRoot') return { kind: 'workspace' };
  if (inner === 'workspaceFolderBasename') return { kind: 'workspaceBasename' };
  if (inner === 'userHome') return { kind: 'home' };
  if (inner === 'pathSeparator' || inner === '/') return { kind: 'separator' };
  const names = namePattern(platform);
  if (inner.startsWith('env:') && names.test(inner.slice(4))) return { kind: 'variable', name: inner.slice(4) };
  // A Windows name (`${env:ProgramFiles(x86)}`) in a file a team shares: text elsewhere, as it always was.
  if (inner.startsWith('env:') && namePattern('win32').test(inner.slice(4))) return { kind: 'literal' };
  if (inner.startsWith('input:')) return { kind: 'refused', why: `is a VS Code input, asked of the user in the editor, and exai has no editor: ${ENV_ADVICE}` };
  if (inner.startsWith('command:')) return { kind: 'refused', why: `runs a VS Code command, and exai has no editor: write the value, or ${ENV_ADVICE}` };
  if (inner.startsWith('config:')) return { kind: 'refused', why: `reads a VS Code setting, and exai has no editor: write the value, or ${ENV_ADVICE}` };
  if (EDITOR_VARIABLES.has(inner)) return { kind: 'refused', why: 'names something open in VS Code, and exai\'s servers run without an editor: use ${workspaceFolder} or a path' };
  const dash = inner.indexOf(':-');
  const name = dash < 0 ? inner : inner.slice(0, dash);
  if (names.test(name)) return { kind: 'variable', name, ...(dash < 0 ? {} : { fallback: inner.slice(dash + 2) }) };
  return {
    kind: 'refused',
    why: 'is not a placeholder exai knows: use ${workspaceFolder}, ${userHome}, ${env:NAME} or ${NAME} (an environment variable; ${NAME:-default} when it may be unset)',
  };
}

/**
 * The strings of a parsed servers.json that placeholders are expanded in: each entry's
 * `command`, `args`, `env` values and `cwd`, with where they sit (`servers.fs.args.1`).
 * Takes the file as parsed, valid or not, and skips what is not a string.
 */
export function placeholderFields(raw: unknown): { at: string; value: string }[] {
  const fields: { at: string; value: string }[] = [];
  const servers = isObject(raw) ? raw.servers : undefined;
  if (!isObject(servers)) return fields;
  for (const [name, entry] of Object.entries(servers)) {
    if (!isObject(entry)) continue;
    const at = `servers.${name}`;
    const add = (where: string, value: unknown) => {
      if (typeof value === 'string') fields.push({ at: `${at}.${where}`, value });
    };
    add('command', entry.command);
    if (Array.isArray(entry.args)) entry.args.forEach((arg, i) => add(`args.${i}`, arg));
    if (isObject(entry.env)) for (const [key, value] of Object.entries(entry.env)) add(`env.${key}`, value);
    add('cwd', entry.cwd);
  }
  return fields;
}

/**
 * The variables a parsed servers.json reads, and those of them `env` has no value for (and
 * that give no default): the servers would get an empty string. Placeholders that are refused
 * count for nothing here; loading the file reports them.
 */
export function variablesRead(raw: unknown, env: NodeJS.ProcessEnv, platform: Platform = process.platform): { read: string[]; unset: string[] } {
  const read = new Set<string>();
  const unset = new Set<string>();
  for (const { value } of placeholderFields(raw)) {
    const expansion = expandPlaceholders(value, '', { env, platform, home: '' });
    if (expansion.ok) for (const name of expansion.unset) unset.add(name);
    // Read with nothing set, every variable it reads is unset: that lists them all.
    const all = expandPlaceholders(value, '', { env: {}, platform, home: '' });
    if (all.ok) for (const name of all.unset) read.add(name);
  }
  return { read: [...read], unset: [...unset] };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
