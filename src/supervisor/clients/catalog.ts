import type { ClientKind } from '../registry.js';
import { tomlBasicString } from './toml-string.js';

/**
 * What exai knows about each client: where its workspace config lives, in which format, where
 * exai's entry sits in it, and what the user must still do in that client. Facts measured with
 * the clients themselves (shared/EDITORS.md; the real-client suite in test/clients keeps them true).
 */
export interface ClientSpec {
  /** The name users know it by. */
  label: string;
  /** The config file, relative to the workspace. */
  file: readonly string[];
  format: 'jsonc' | 'toml';
  /** Where exai's entry sits inside the file. */
  entryPath: readonly string[];
  /** The client expands `${workspaceFolder}` in the entry's env; others get the absolute path. */
  expandsWorkspaceFolder: boolean;
  /** The entry carries `"type": "stdio"` (mcp.json-style clients; Codex has no such field). */
  typed: boolean;
  /**
   * What the user must still do in the client before it starts exai; undefined when nothing.
   * Lines after the first are text to paste as they are (spawn indents them).
   */
  hint?: (workspace: string) => string;
  /** How the client spells a Streamable HTTP server (a workspace's own daemon with `"type": "http"`). */
  httpEntry: (url: string) => Record<string, string>;
}

export const ENTRY_NAME = 'exai';

export const CLIENT_SPECS: Readonly<Record<ClientKind, ClientSpec>> = {
  vscode: {
    label: 'VS Code',
    file: ['.vscode', 'mcp.json'],
    format: 'jsonc',
    entryPath: ['servers', ENTRY_NAME],
    expandsWorkspaceFolder: true,
    typed: true,
    httpEntry: (url) => ({ type: 'http', url }),
  },
  claude: {
    label: 'Claude Code',
    file: ['.mcp.json'],
    format: 'jsonc',
    entryPath: ['mcpServers', ENTRY_NAME],
    expandsWorkspaceFolder: false,
    typed: true,
    // Claude Code 2.1 reads the approval exai writes (.claude/settings.local.json) only in a
    // folder whose trust prompt was accepted (~/.claude.json); until then exai shows as pending.
    hint: () => 'Claude Code: exai is approved in .claude/settings.local.json; Claude Code honours that once you trust this folder (accept the prompt the first time `claude` starts here)',
    httpEntry: (url) => ({ type: 'http', url }),
  },
  cursor: {
    label: 'Cursor',
    file: ['.cursor', 'mcp.json'],
    format: 'jsonc',
    entryPath: ['mcpServers', ENTRY_NAME],
    expandsWorkspaceFolder: false,
    typed: true,
    httpEntry: (url) => ({ url }),
  },
  gemini: {
    label: 'Gemini CLI',
    file: ['.gemini', 'settings.json'],
    format: 'jsonc',
    entryPath: ['mcpServers', ENTRY_NAME],
    expandsWorkspaceFolder: false,
    typed: true,
    // Untrusted folders list their servers as "Disabled" (gemini 0.61).
    hint: (ws) => `Gemini CLI: starts workspace MCP servers only in a trusted folder — choose "Trust folder" when gemini first starts in ${ws} (saved in ~/.gemini/trustedFolders.json)`,
    httpEntry: (url) => ({ httpUrl: url }),
  },
  codex: {
    label: 'Codex',
    file: ['.codex', 'config.toml'],
    format: 'toml',
    entryPath: ['mcp_servers', ENTRY_NAME],
    expandsWorkspaceFolder: false,
    typed: false,
    // Codex ignores a project's .codex/config.toml until the project is trusted. The snippet is
    // two lines because TOML wants a table header on a line of its own.
    hint: (ws) =>
      `Codex: reads .codex/config.toml only in a trusted project — trust it when codex asks, or add these two lines to ~/.codex/config.toml:\n` +
      `[projects.${tomlBasicString(ws)}]\ntrust_level = "trusted"`,
    httpEntry: (url) => ({ url }),
  },
};
