import { basename } from 'node:path';
import type * as vscode from 'vscode';
import { trouble, upstreamCount, upstreamTrouble, type FleetSnapshot, type ListRow, type UpstreamStatus } from './fleet.js';
import type { Vscode } from './types.js';

export type FleetNode = { kind: 'workspace'; row: ListRow } | { kind: 'upstream'; row: ListRow; upstream: UpstreamStatus } | { kind: 'message'; text: string };

/** Every registered workspace with its upstreams (`exai list --json`). */
export class FleetTree implements vscode.TreeDataProvider<FleetNode> {
  private snapshot: FleetSnapshot = { rows: [], health: new Map() };
  private readonly changed: vscode.EventEmitter<FleetNode | undefined>;
  readonly onDidChangeTreeData: vscode.Event<FleetNode | undefined>;

  constructor(private readonly vscode: Vscode) {
    this.changed = new vscode.EventEmitter<FleetNode | undefined>();
    this.onDidChangeTreeData = this.changed.event;
  }

  update(snapshot: FleetSnapshot): void {
    this.snapshot = snapshot;
    this.changed.fire(undefined);
  }

  getChildren(node?: FleetNode): FleetNode[] {
    if (!node) {
      if (this.snapshot.error) return [{ kind: 'message', text: this.snapshot.error }];
      if (!this.snapshot.rows.length) return [{ kind: 'message', text: 'no workspace registered yet' }];
      return this.snapshot.rows.map((row) => ({ kind: 'workspace', row }));
    }
    if (node.kind !== 'workspace') return [];
    return (node.row.upstreams ?? []).map((upstream) => ({ kind: 'upstream', row: node.row, upstream }));
  }

  getTreeItem(node: FleetNode): vscode.TreeItem {
    const { TreeItem, TreeItemCollapsibleState, ThemeIcon, ThemeColor } = this.vscode;
    if (node.kind === 'message') {
      const item = new TreeItem(node.text, TreeItemCollapsibleState.None);
      item.iconPath = new ThemeIcon('info');
      return item;
    }
    if (node.kind === 'workspace') {
      const { row } = node;
      const count = upstreamCount(row);
      const item = new TreeItem(basename(row.workspace), count?.total ? TreeItemCollapsibleState.Expanded : TreeItemCollapsibleState.None);
      item.id = `ws:${row.id}`;
      item.description = `:${row.port} ${row.status}${count?.total ? ` · ${count.up}/${count.total} up` : ''}`;
      const why = trouble(row);
      item.tooltip = [row.workspace, `${row.name}, port ${row.port}, ${row.status}`, ...(why ? [why] : [])].join('\n');
      item.iconPath = why ? new ThemeIcon('warning', new ThemeColor('list.warningForeground')) : new ThemeIcon(row.status === 'online' ? 'vm-running' : 'vm-outline');
      item.contextValue = 'exai.workspace';
      return item;
    }
    const { upstream } = node;
    const item = new TreeItem(upstream.name, TreeItemCollapsibleState.None);
    item.id = `up:${node.row.id}:${upstream.name}`;
    item.description = upstream.state;
    const why = upstreamTrouble(upstream);
    item.tooltip = why ?? `${upstream.name}: ${upstream.state}${upstream.pid ? `, pid ${upstream.pid}` : ''}`;
    item.iconPath = why ? new ThemeIcon('error', new ThemeColor('list.errorForeground')) : new ThemeIcon(upstream.state === 'up' ? 'pass' : 'circle-outline');
    item.contextValue = 'exai.upstream';
    return item;
  }
}
