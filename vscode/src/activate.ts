import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import type * as vscode from 'vscode';
import { ExaiCli, exaiCommand, exaiEnv, findNode, type Follower } from './cli.js';
import { readFleet, type FleetSnapshot } from './fleet.js';
import { exaiEntryKey, isGitIgnored, mcpJsonPath, removeExaiEntry } from './mcp-json.js';
import { ExaiProvider, PROVIDER_ID } from './provider.js';
import { StatusItem } from './status.js';
import { FleetTree, type FleetNode } from './tree.js';
import type { Vscode } from './types.js';

/** How often the views re-read the fleet when nothing told them to (a registry change does at once). */
export const POLL_MS = 15_000;

export interface ActivateOptions {
  /** The exai CLI the extension carries (`<extension>/exai/dist/cli/main.js`). */
  bundledCli: string;
  pollMs?: number;
  /** The environment exai runs with, before `exai.home`; default the extension host's. */
  env?: NodeJS.ProcessEnv;
}

/** What activation hands back: the parts, for the tests and for `deactivate`. */
export interface ExaiExtension {
  cli: ExaiCli;
  provider: ExaiProvider;
  tree: FleetTree;
  status: StatusItem;
  /** Re-reads the fleet and renders it; resolves when done (concurrent calls share one read). */
  refresh(): Promise<FleetSnapshot>;
  /** Offers to remove exai entries from `.vscode/mcp.json` (done once at activation and on trust). */
  checkMcpJson(): Promise<void>;
  /** Disposes everything; resolves once no exai child of the extension runs any more. */
  dispose(): Promise<void>;
}

export async function activateExai(vscode: Vscode, context: vscode.ExtensionContext, opts: ActivateOptions): Promise<ExaiExtension> {
  const out = vscode.window.createOutputChannel('exai');
  const logs = vscode.window.createOutputChannel('exai logs');
  const log = (line: string) => out.appendLine(`${new Date().toISOString()} ${line}`);
  const config = vscode.workspace.getConfiguration('exai');
  const settings = { path: config.get<string>('path') ?? '', home: config.get<string>('home') ?? '' };
  const cli = new ExaiCli(exaiCommand(settings, opts.bundledCli, findNode()), exaiEnv(settings, opts.env));
  const trusted = () => vscode.workspace.isTrusted;
  const versionRun = await cli.run(['--version'], 30_000).catch(() => undefined);
  const exaiVersion = versionRun?.code === 0 ? versionRun.stdout.trim() : 'unknown';
  log(`exai ${exaiVersion} (${[cli.command.command, ...cli.command.args].join(' ')}), EXAI_HOME ${cli.home()}`);

  let snapshot: FleetSnapshot = { rows: [], health: new Map() };
  const tree = new FleetTree(vscode);
  const status = new StatusItem(vscode);
  const provider = new ExaiProvider({ vscode, cli, exaiVersion, trusted, log, onResolved: () => void refresh() });

  const currentFolder = (): string | undefined => {
    const editor = vscode.window.activeTextEditor;
    const owner = editor ? vscode.workspace.getWorkspaceFolder(editor.document.uri) : undefined;
    const folder = owner ?? vscode.workspace.workspaceFolders?.find((f) => f.uri.scheme === 'file');
    return folder?.uri.fsPath;
  };
  const render = () => status.render(snapshot, currentFolder(), trusted());

  let running: Promise<FleetSnapshot> | undefined;
  let again = false;
  let disposed = false;
  const refresh = (): Promise<FleetSnapshot> => {
    if (disposed) return Promise.resolve(snapshot);
    if (!trusted()) {
      render();
      return Promise.resolve(snapshot);
    }
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        const folder = currentFolder();
        snapshot = await readFleet(cli, folder ? [folder] : []);
        provider.noteFleet(snapshot);
        tree.update(snapshot);
        render();
      } while (again);
      running = undefined;
      return snapshot;
    })();
    return running;
  };

  const folderOf = async (node?: FleetNode): Promise<string | undefined> => {
    if (node && node.kind !== 'message') return node.row.workspace;
    const folders = (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file');
    if (folders.length <= 1) return currentFolder();
    const picked = await vscode.window.showWorkspaceFolderPick({ placeHolder: 'exai: which folder?' });
    return picked?.uri.fsPath;
  };

  const runCommand = async (title: string, args: string[]) => {
    try {
      await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title }, () => cli.json(args));
    } catch (err) {
      void vscode.window.showErrorMessage(err instanceof Error ? err.message : String(err));
    }
    provider.refresh(); // a restart can move the port
    await refresh();
  };

  let follower: Follower | undefined;
  const showLogs = (folder: string) => {
    follower?.dispose();
    logs.clear();
    logs.show(true);
    logs.appendLine(`exai logs --workspace ${folder} --follow`);
    follower = cli.follow(
      ['logs', '--workspace', folder, '--follow', '--json'],
      (line) => {
        try {
          const l = JSON.parse(line) as { time?: string; stream?: string; line?: string };
          logs.appendLine(`${l.time ?? ''} ${l.stream ?? ''} | ${l.line ?? ''}`);
        } catch {
          logs.appendLine(line);
        }
      },
      (code, stderr) => {
        if (code !== 0 && code !== null) logs.appendLine(`(exai logs ended: ${stderr.trim().split('\n').at(-1) ?? `exit ${code}`})`);
      },
    );
  };

  const checkMcpJson = async () => {
    if (!trusted()) return;
    for (const f of vscode.workspace.workspaceFolders ?? []) {
      if (f.uri.scheme !== 'file') continue;
      const folder = f.uri.fsPath;
      const key = exaiEntryKey(folder);
      if (!key) continue;
      const file = mcpJsonPath(folder);
      if (isGitIgnored(folder, file)) {
        removeExaiEntry(folder, key);
        log(`${file}: removed the exai entry "${key}" (git-ignored; the extension serves this folder)`);
        continue;
      }
      const kept = `exai.keptMcpJson:${folder}`;
      if (context.workspaceState.get<boolean>(kept)) continue;
      const answer = await vscode.window.showWarningMessage(
        `${basename(folder)}: .vscode/mcp.json lists exai ("${key}") and the exai extension serves this folder too, so VS Code would start exai twice. Remove the entry from .vscode/mcp.json?`,
        'Remove',
        'Keep',
      );
      if (answer === 'Remove') {
        removeExaiEntry(folder, key);
        log(`${file}: removed the exai entry "${key}"`);
      } else if (answer === 'Keep') {
        await context.workspaceState.update(kept, true);
      }
    }
  };

  const serversWatcher = vscode.workspace.createFileSystemWatcher('**/.exai/servers.json');
  const daemonWatcher = vscode.workspace.createFileSystemWatcher('**/.exai/daemon.json');
  const registryWatcher = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(vscode.Uri.file(cli.home()), 'registry.json'));
  const onServers = () => {
    provider.refresh(); // the catalog digest, so the version, changed (daemon.json: also the definition's shape)
    void refresh();
  };
  const timer = setInterval(() => void refresh(), opts.pollMs ?? POLL_MS);
  const disposables: { dispose(): unknown }[] = [
    out,
    logs,
    status,
    serversWatcher,
    daemonWatcher,
    registryWatcher,
    { dispose: () => clearInterval(timer) },
    { dispose: () => follower?.dispose() },
    vscode.lm.registerMcpServerDefinitionProvider(PROVIDER_ID, provider),
    vscode.window.createTreeView('exai.fleet', { treeDataProvider: tree, showCollapseAll: true }),
    serversWatcher.onDidChange(onServers),
    serversWatcher.onDidCreate(onServers),
    serversWatcher.onDidDelete(onServers),
    daemonWatcher.onDidChange(onServers),
    daemonWatcher.onDidCreate(onServers),
    daemonWatcher.onDidDelete(onServers),
    registryWatcher.onDidChange(() => void refresh()),
    registryWatcher.onDidCreate(() => void refresh()),
    vscode.workspace.onDidChangeWorkspaceFolders(() => {
      provider.refresh();
      void refresh();
      void checkMcpJson();
    }),
    vscode.workspace.onDidGrantWorkspaceTrust(() => {
      provider.refresh();
      void refresh();
      void checkMcpJson();
    }),
    vscode.window.onDidChangeActiveTextEditor(render),
    vscode.workspace.onDidChangeConfiguration(async (e) => {
      if (!e.affectsConfiguration('exai')) return;
      const answer = await vscode.window.showInformationMessage('exai: reload the window to use the new exai settings', 'Reload');
      if (answer === 'Reload') await vscode.commands.executeCommand('workbench.action.reloadWindow');
    }),
    vscode.commands.registerCommand('exai.refresh', () => refresh()),
    vscode.commands.registerCommand('exai.restart', async (node?: FleetNode) => {
      const folder = await folderOf(node);
      // `spawn --restart --no-config`, not `exai restart`: restart rewrites the client configs of
      // the launch spec, which would bring back a .vscode/mcp.json entry the user just removed.
      if (folder) await runCommand(`exai: restarting ${basename(folder)}`, ['spawn', '--workspace', folder, '--restart', '--no-config', '--json']);
    }),
    vscode.commands.registerCommand('exai.stop', async (node?: FleetNode) => {
      const folder = await folderOf(node);
      if (folder) await runCommand(`exai: stopping ${basename(folder)}`, ['stop', '--workspace', folder, '--json']);
    }),
    vscode.commands.registerCommand('exai.showLogs', async (node?: FleetNode) => {
      const folder = await folderOf(node);
      if (folder) showLogs(folder);
    }),
    vscode.commands.registerCommand('exai.doctor', async () => {
      out.show(true);
      log('exai doctor');
      const res = await cli.run(['doctor']);
      out.appendLine((res.stdout + res.stderr).trimEnd());
    }),
    vscode.commands.registerCommand('exai.openServersJson', async (node?: FleetNode) => {
      const folder = await folderOf(node);
      if (!folder) return;
      const file = join(folder, '.exai', 'servers.json');
      // A missing file opens as a new unsaved one at its place: nothing is written until saved.
      const uri = existsSync(file) ? vscode.Uri.file(file) : vscode.Uri.file(file).with({ scheme: 'untitled' });
      await vscode.window.showTextDocument(uri);
    }),
  ];
  context.subscriptions.push(...disposables);

  render();
  void refresh();
  void checkMcpJson();
  return {
    cli,
    provider,
    tree,
    status,
    refresh,
    checkMcpJson,
    dispose: async () => {
      disposed = true;
      disposables.forEach((d) => d.dispose());
      await Promise.all([running, follower?.exited]);
    },
  };
}
