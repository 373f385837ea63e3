import { resolve } from 'node:path';
import type * as vscode from 'vscode';
import type { Vscode } from '../../vscode/src/types.js';

/**
 * The part of the `vscode` API the extension uses, faked in memory: events fire synchronously,
 * watchers and dialogs are driven by the test. Everything the extension does to the window
 * (status bar, output channels, messages) is recorded for the assertions.
 */

type Listener<T> = (e: T) => unknown;

export class EventEmitter<T> {
  private listeners: Listener<T>[] = [];
  fired = 0;
  readonly event = (listener: Listener<T>) => {
    this.listeners.push(listener);
    return { dispose: () => (this.listeners = this.listeners.filter((l) => l !== listener)) };
  };
  fire(e: T): void {
    this.fired++;
    for (const l of [...this.listeners]) l(e);
  }
  dispose(): void {
    this.listeners = [];
  }
}

export class Uri {
  private constructor(
    readonly scheme: string,
    readonly fsPath: string,
    private readonly text?: string,
  ) {}
  static file(path: string): Uri {
    return new Uri('file', resolve(path));
  }
  static parse(text: string): Uri {
    return new Uri(text.split(':')[0] ?? '', '', text);
  }
  with(change: { scheme?: string }): Uri {
    return new Uri(change.scheme ?? this.scheme, this.fsPath, this.text);
  }
  toString(): string {
    return this.text ?? `${this.scheme}://${this.fsPath}`;
  }
}

export class McpStdioServerDefinition {
  cwd?: Uri;
  constructor(
    readonly label: string,
    public command: string,
    public args: string[],
    public env: Record<string, string | number | null> = {},
    public version?: string,
  ) {}
}

export class McpHttpServerDefinition {
  constructor(
    readonly label: string,
    public uri: Uri,
    public headers: Record<string, string> = {},
    public version?: string,
  ) {}
}

export class ThemeColor {
  constructor(readonly id: string) {}
}
export class ThemeIcon {
  constructor(
    readonly id: string,
    readonly color?: ThemeColor,
  ) {}
}
export class TreeItem {
  id?: string;
  description?: string;
  tooltip?: string;
  iconPath?: ThemeIcon;
  contextValue?: string;
  constructor(
    readonly label: string,
    readonly collapsibleState: number,
  ) {}
}
export class RelativePattern {
  constructor(
    readonly base: Uri,
    readonly pattern: string,
  ) {}
}

export class FakeWatcher {
  readonly changed = new EventEmitter<Uri>();
  readonly created = new EventEmitter<Uri>();
  readonly deleted = new EventEmitter<Uri>();
  onDidChange = this.changed.event;
  onDidCreate = this.created.event;
  onDidDelete = this.deleted.event;
  constructor(readonly pattern: string | RelativePattern) {}
  dispose(): void {}
}

export class FakeChannel {
  lines: string[] = [];
  constructor(readonly name: string) {}
  appendLine(line: string): void {
    this.lines.push(line);
  }
  clear(): void {
    this.lines = [];
  }
  show(): void {}
  dispose(): void {}
}

export class FakeStatusItem {
  text = '';
  tooltip: string | undefined;
  backgroundColor: ThemeColor | undefined;
  name = '';
  command: string | undefined;
  visible = false;
  show(): void {
    this.visible = true;
  }
  hide(): void {
    this.visible = false;
  }
  dispose(): void {}
}

export interface Folder {
  name: string;
  path: string;
}

export interface FakeWindowState {
  /** What showWarningMessage answers (the button's title), and what it was asked. */
  warningAnswer?: string;
  warnings: string[];
  errors: string[];
  opened: Uri[];
}

export function fakeVscode(opts: { folders: Folder[]; trusted?: boolean; settings?: Record<string, string> }) {
  const folderChange = new EventEmitter<unknown>();
  const trustGranted = new EventEmitter<void>();
  const configChange = new EventEmitter<unknown>();
  const editorChange = new EventEmitter<unknown>();
  const watchers: FakeWatcher[] = [];
  const channels = new Map<string, FakeChannel>();
  const statusItems: FakeStatusItem[] = [];
  const commands = new Map<string, (...args: unknown[]) => unknown>();
  const providers = new Map<string, vscode.McpServerDefinitionProvider>();
  const state: FakeWindowState = { warnings: [], errors: [], opened: [] };
  const toFolder = (f: Folder, index: number) => ({ name: f.name, index, uri: Uri.file(f.path) });
  let folders = opts.folders.map(toFolder);
  const workspace = {
    get workspaceFolders() {
      return folders;
    },
    isTrusted: opts.trusted ?? true,
    getConfiguration: () => ({ get: (key: string) => opts.settings?.[key] }),
    getWorkspaceFolder: (uri: Uri) => folders.find((f) => uri.fsPath.startsWith(f.uri.fsPath)),
    createFileSystemWatcher: (pattern: string | RelativePattern) => {
      const w = new FakeWatcher(pattern);
      watchers.push(w);
      return w;
    },
    onDidChangeWorkspaceFolders: folderChange.event,
    onDidGrantWorkspaceTrust: trustGranted.event,
    onDidChangeConfiguration: configChange.event,
  };
  const window = {
    activeTextEditor: undefined,
    onDidChangeActiveTextEditor: editorChange.event,
    createOutputChannel: (name: string) => {
      const c = new FakeChannel(name);
      channels.set(name, c);
      return c;
    },
    createStatusBarItem: () => {
      const item = new FakeStatusItem();
      statusItems.push(item);
      return item;
    },
    createTreeView: () => ({ dispose() {} }),
    showWarningMessage: async (message: string) => {
      state.warnings.push(message);
      return state.warningAnswer;
    },
    showInformationMessage: async () => undefined,
    showErrorMessage: async (message: string) => {
      state.errors.push(message);
      return undefined;
    },
    showWorkspaceFolderPick: async () => folders[0],
    showTextDocument: async (uri: Uri) => {
      state.opened.push(uri);
    },
    withProgress: async (_o: unknown, task: () => Promise<unknown>) => task(),
  };
  const api = {
    EventEmitter,
    Uri,
    McpStdioServerDefinition,
    McpHttpServerDefinition,
    ThemeColor,
    ThemeIcon,
    TreeItem,
    RelativePattern,
    TreeItemCollapsibleState: { None: 0, Collapsed: 1, Expanded: 2 },
    StatusBarAlignment: { Left: 1, Right: 2 },
    ProgressLocation: { SourceControl: 1, Window: 10, Notification: 15 },
    workspace,
    window,
    lm: {
      registerMcpServerDefinitionProvider: (id: string, provider: vscode.McpServerDefinitionProvider) => {
        providers.set(id, provider);
        return { dispose: () => providers.delete(id) };
      },
    },
    commands: {
      registerCommand: (id: string, fn: (...args: unknown[]) => unknown) => {
        commands.set(id, fn);
        return { dispose: () => commands.delete(id) };
      },
      executeCommand: async (id: string, ...args: unknown[]) => commands.get(id)?.(...args),
    },
  };
  const memento = new Map<string, unknown>();
  const context = {
    subscriptions: [] as { dispose(): unknown }[],
    workspaceState: { get: (k: string) => memento.get(k), update: async (k: string, v: unknown) => void memento.set(k, v) },
  };
  return {
    vscode: api as unknown as Vscode,
    context: context as unknown as vscode.ExtensionContext,
    state,
    watchers,
    channels,
    statusItems,
    commands,
    providers,
    /** Replaces the window's folders and fires onDidChangeWorkspaceFolders. */
    setFolders(next: Folder[]) {
      folders = next.map(toFolder);
      folderChange.fire({});
    },
    grantTrust() {
      workspace.isTrusted = true;
      trustGranted.fire();
    },
  };
}
