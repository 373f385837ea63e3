/** Reloads `.exai/servers.json` when it changes (the gateway applies what it finds). */
import { existsSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { loadServersConfig, sameConfig, SERVERS_DIR, type ServersConfig } from './config.js';

export interface ServersConfigWatcherOptions {
  workspace: string;
  /**
   * Called after every reload that a change in the watched folder caused, with whether the
   * configuration differs from the previous load. Unchanged reloads matter too: saving the same
   * file is how a user asks for a failed upstream to be retried.
   */
  onReload(config: ServersConfig, changed: boolean): void;
  /** Editors write files in several steps; wait for quiet before reloading. */
  debounceMs?: number;
}

/**
 * Watches servers.json without holding the file open: it watches the `.exai` folder (editors
 * often replace a file by rename, which a file watch would lose), or the workspace folder
 * until `.exai` appears.
 */
export class ServersConfigWatcher {
  private watcher: FSWatcher | undefined;
  private watching: 'dir' | 'workspace' | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private last: ServersConfig;
  private readonly debounceMs: number;

  constructor(private readonly options: ServersConfigWatcherOptions, initial?: ServersConfig) {
    this.debounceMs = options.debounceMs ?? 150;
    this.last = initial ?? loadServersConfig(options.workspace);
  }

  /** The most recent load. */
  get current(): ServersConfig {
    return this.last;
  }

  start(): void {
    this.rewatch();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.watcher?.close();
    this.watcher = undefined;
  }

  /** Reloads now (also what every debounced watch event ends in). */
  reload(): void {
    if (this.closed) return;
    this.rewatch();
    const next = loadServersConfig(this.options.workspace);
    const changed = !sameConfig(next, this.last);
    this.last = next;
    this.options.onReload(next, changed);
  }

  /**
   * Applies a change the watch saw but the debounce still holds back: what a reader that must
   * be current calls (`exai_status`: a `spawn` right after saving the file reports this file,
   * not the one before it).
   */
  flush(): void {
    if (!this.timer) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.reload();
  }

  private schedule(): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.reload();
    }, this.debounceMs);
    this.timer.unref();
  }

  /** Watches `.exai` when it exists, else the workspace; switches when `.exai` comes or goes. */
  private rewatch(): void {
    if (this.closed) return;
    const dir = join(this.options.workspace, SERVERS_DIR);
    const want = existsSync(dir) ? 'dir' : 'workspace';
    if (this.watcher && this.watching === want) return;
    this.watcher?.close();
    this.watcher = undefined;
    this.watching = undefined;
    try {
      const watcher = watch(want === 'dir' ? dir : this.options.workspace, { persistent: false }, () => this.schedule());
      // A watched folder that is deleted reports an error on some platforms: go back to
      // watching whatever exists now.
      watcher.on('error', () => {
        if (this.watcher === watcher) {
          watcher.close();
          this.watcher = undefined;
          this.watching = undefined;
          this.schedule();
        }
      });
      this.watcher = watcher;
      this.watching = want;
    } catch {
      // The workspace itself vanished or cannot be watched: nothing to follow; a later
      // reload() (or a daemon restart) picks the file up again.
    }
    // `.exai` may have appeared (with servers.json in it) between the last event and this watch.
    if (want === 'dir') this.schedule();
  }
}
