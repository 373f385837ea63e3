/** Types for install.mjs (the installer runs under plain node, the suite imports it from TypeScript). */
export type ClientName = 'vscode' | 'claude' | 'gemini' | 'codex' | 'python';
export interface Installed {
  client: ClientName;
  ok: boolean;
  /** Why it could not be installed (ok false). */
  reason?: string;
  /** claude, gemini, codex: the CLI. */
  bin?: string;
  /** python: the venv's interpreter. */
  python?: string;
  /** vscode: code-server, the Node 24 it needs, playwright-core's folder, the browser. */
  codeServer?: string;
  node24Bin?: string;
  playwright?: string;
  chromium?: string;
}
export const PINS: Record<string, string | string[]>;
export const CLIENTS: ClientName[];
export function cacheDir(env?: NodeJS.ProcessEnv): string;
export function ensureClient(client: ClientName): Installed;
