import { createRequire } from 'node:module';
import { sessionCounts, type DaemonState } from './state.js';

/** The status a user asks for with `pm2 trigger <app> status`. */
export interface StatusReport {
  workspace: string;
  id: string;
  port: number;
  pid: number;
  version: string;
  sessions: number;
  sessionsByTransport: { ws: number; http: number };
  requests: number;
  upstreams: readonly object[];
  upstreamsConfigError: string | null;
}

interface Tx2 {
  metric(opts: { name: string; value: () => number | string; unit?: string }): void;
  action(name: string, fn: (reply: (data: unknown) => void) => void): void;
}

/**
 * Publishes the daemon's numbers to the pm2 dashboard (`pm2 show`, `pm2 monit`) and a
 * `status` action for `pm2 trigger`. Only under pm2: tx2 talks over the IPC channel, and it
 * exits the process if a send fails, so it is never loaded without one.
 */
export function publishPm2Metrics(state: DaemonState): void {
  if (!process.send || !process.env.pm_id) return;
  const tx2 = createRequire(import.meta.url)('tx2') as Tx2;
  const upstreamCounts = () => {
    const list = state.upstreams() as { state?: string }[];
    return `${list.filter((u) => u.state === 'up').length}/${list.length}`;
  };
  tx2.metric({ name: 'port', value: () => state.port });
  tx2.metric({ name: 'workspace', value: () => state.workspace.path });
  tx2.metric({ name: 'open sessions', value: () => state.sessions.size });
  tx2.metric({ name: 'sessions ws/http', value: () => { const c = sessionCounts(state); return `${c.ws}/${c.http}`; } });
  tx2.metric({ name: 'requests served', value: () => state.counters.requests });
  tx2.metric({ name: 'upstreams up/total', value: upstreamCounts });
  tx2.action('status', (reply) => reply(statusReport(state)));
}

export function statusReport(state: DaemonState): StatusReport {
  return {
    workspace: state.workspace.path,
    id: state.workspace.id,
    port: state.port,
    pid: state.pid,
    version: state.version,
    sessions: state.sessions.size,
    sessionsByTransport: sessionCounts(state),
    requests: state.counters.requests,
    upstreams: state.upstreams(),
    upstreamsConfigError: state.upstreamsConfigError(),
  };
}
