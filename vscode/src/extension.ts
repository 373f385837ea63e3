import { join } from 'node:path';
import * as vscode from 'vscode';
import { activateExai, type ExaiExtension } from './activate.js';

let active: ExaiExtension | undefined;

/** The entry VS Code loads (bundled to out/extension.cjs by scripts/vsix.mjs). */
export async function activate(context: vscode.ExtensionContext): Promise<void> {
  active = await activateExai(vscode, context, { bundledCli: join(context.extensionPath, 'exai', 'dist', 'cli', 'main.js') });
}

export async function deactivate(): Promise<void> {
  const ending = active;
  active = undefined;
  await ending?.dispose();
}
