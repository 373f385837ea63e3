/** What a Gateway is made with and reports, and what each session's Server declares for it. */
import type { ServerCapabilities } from '@modelcontextprotocol/server';
import type { Logger } from '../log.js';
import type { SupervisionOptions, UpstreamStatus } from './upstream.js';

/**
 * What every session's Server must declare, whatever the upstreams offer right now: upstreams
 * come and go while a session lives, and a capability cannot be added after initialize.
 */
export const GATEWAY_SERVER_CAPABILITIES: ServerCapabilities = {
  tools: { listChanged: true },
  prompts: { listChanged: true },
  resources: { subscribe: true, listChanged: true },
  completions: {},
  logging: {},
  tasks: { list: {}, cancel: {}, requests: { tools: { call: {} } } },
};

export interface GatewayStatus {
  /** The servers.json path. */
  file: string;
  /** One line naming the file and the problem while it is invalid; null when it is fine or absent. */
  configError: string | null;
  upstreams: UpstreamStatus[];
}

export interface GatewayOptions {
  /** Canonical workspace folder (servers.json lives in its `.exai`). */
  workspace: string;
  /**
   * Where the upstreams' last catalogs are kept (`homeLayout(home).catalogFile(id)`), so lazy
   * and idle ones are listed without starting them; without it they are started by a list.
   */
  catalogFile?: string;
  log?: Logger;
  /** Supervision knobs (backoff, crash limit); tests shorten them. */
  supervision?: Partial<SupervisionOptions>;
  /** Debounce for servers.json changes. */
  debounceMs?: number;
  /**
   * How long lists (and a session's initialize) wait for upstreams that are still starting, so
   * a window that connects right after the daemon starts sees their tools. One deadline from
   * the start, shared by every request (a later start, such as a list starting a server whose
   * catalog was never seen, moves it to that start plus this much); after it lists answer with
   * what is up.
   */
  initialWaitMs?: number;
  /**
   * Upper bound for one relayed request. The session's client has its own timeout and cancels
   * (which is relayed); this only stops a call that nobody waits for any more from being
   * tracked forever, so it is long. At most 2^31-1 ms (Node's timer limit).
   */
  callTimeoutMs?: number;
}
