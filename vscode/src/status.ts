import { basename } from 'node:path';
import type * as vscode from 'vscode';
import { rowFor, trouble, upstreamCount, type FleetSnapshot } from './fleet.js';
import type { Vscode } from './types.js';

/** What the status bar item shows for one folder; pure, so the tests read it directly. */
export interface StatusView {
  text: string;
  tooltip: string;
  warning: boolean;
}

export function statusView(snapshot: FleetSnapshot, folder: string | undefined, trusted: boolean): StatusView | undefined {
  if (!folder) return undefined;
  const name = basename(folder);
  if (!trusted) return { text: '$(shield) exai', tooltip: `exai starts nothing in an untrusted workspace; trust ${name} to start its daemon`, warning: false };
  if (snapshot.error) return { text: '$(warning) exai', tooltip: snapshot.error, warning: true };
  const row = rowFor(snapshot, folder);
  if (!row) return { text: '$(server) exai: not started', tooltip: `${name} has no exai daemon yet; it starts when VS Code first starts the MCP server "exai · ${name}"`, warning: false };
  const parts = [`:${row.port}`, row.status];
  const health = snapshot.health.get(row.workspace);
  if (health) parts.push(`${health.sessions} session${health.sessions === 1 ? '' : 's'}`);
  const count = upstreamCount(row);
  if (count && count.total) parts.push(`${count.up}/${count.total} up`);
  const why = trouble(row);
  return {
    text: `${why ? '$(warning)' : '$(server)'} exai ${parts.join(' · ')}`,
    tooltip: [`exai daemon of ${row.workspace}`, `port ${row.port}, ${row.status}${row.pid ? `, pid ${row.pid}` : ''}`, ...(why ? [why] : [])].join('\n'),
    warning: why !== undefined,
  };
}

/** The status bar item for the current folder (the active editor's, else the first). */
export class StatusItem {
  private readonly item: vscode.StatusBarItem;

  constructor(private readonly vscode: Vscode) {
    this.item = vscode.window.createStatusBarItem('exai.status', vscode.StatusBarAlignment.Left, 50);
    this.item.name = 'exai';
    this.item.command = 'exai.showLogs';
  }

  render(snapshot: FleetSnapshot, folder: string | undefined, trusted: boolean): void {
    const view = statusView(snapshot, folder, trusted);
    if (!view) {
      this.item.hide();
      return;
    }
    this.item.text = view.text;
    this.item.tooltip = view.tooltip;
    this.item.backgroundColor = view.warning ? new this.vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
    this.item.show();
  }

  dispose(): void {
    this.item.dispose();
  }
}
