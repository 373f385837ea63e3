/**
 * The `vscode` API as a value. Only src/extension.ts imports the real module at run time; every
 * other module receives it, so the unit tests (test/vscode-extension/) hand in a fake.
 */
export type Vscode = typeof import('vscode');
