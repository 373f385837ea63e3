import type { CallToolResult, Tool } from '@modelcontextprotocol/server';
import type { ExaiStatus } from '../workspace/status.js';
import { sessionCounts, sessionProtocols, uptimeMs, type DaemonState } from './state.js';

/** A tool the daemon itself serves (as opposed to one from an upstream server). */
export interface BuiltinTool {
  readonly definition: Tool;
  call(args: Record<string, unknown> | undefined): Promise<CallToolResult> | CallToolResult;
}

/** What `exai_status` returns as structured content (one shape with its readers: workspace/status.ts). */
export type { ExaiStatus };

export function statusSnapshot(state: DaemonState): ExaiStatus {
  return {
    workspace: state.workspace.path,
    id: state.workspace.id,
    name: state.appName,
    port: state.port,
    pid: state.pid,
    version: state.version,
    uptimeMs: uptimeMs(state),
    sessions: state.sessions.size,
    sessionsByTransport: sessionCounts(state),
    sessionsByProtocol: sessionProtocols(state),
    upstreams: state.upstreams(),
    upstreamsConfigError: state.upstreamsConfigError(),
  };
}

const statusTool: Tool = {
  name: 'exai_status',
  title: 'exai daemon status',
  description:
    "Status of this workspace's exai daemon: workspace folder, id, port, pid, exai version, uptime, open sessions (by transport and by protocol revision) and upstream MCP servers.",
  inputSchema: { type: 'object', properties: {} },
  outputSchema: {
    type: 'object',
    properties: {
      workspace: { type: 'string', description: 'canonical workspace folder' },
      id: { type: 'string', description: 'workspace id (8 hex chars)' },
      name: { type: 'string', description: 'pm2 app name' },
      port: { type: 'integer' },
      pid: { type: 'integer' },
      version: { type: 'string', description: 'exai version' },
      uptimeMs: { type: 'integer' },
      sessions: { type: 'integer', description: 'open MCP sessions' },
      sessionsByTransport: {
        type: 'object',
        description: 'open MCP sessions by transport: ws (WebSocket: shims, the VS Code extension) and http (Streamable HTTP)',
        properties: { ws: { type: 'integer' }, http: { type: 'integer' } },
        required: ['ws', 'http'],
      },
      sessionsByProtocol: {
        type: 'array',
        description: 'opened sessions by the MCP revision their client asked for: 2026-07-28 (no initialize), 2025-11-25 or an older 2025-era revision; newest first',
        items: {
          type: 'object',
          properties: { protocolVersion: { type: 'string' }, sessions: { type: 'integer' } },
          required: ['protocolVersion', 'sessions'],
        },
      },
      upstreams: {
        type: 'array',
        description:
          "the workspace's own MCP servers (.exai/servers.json); also pid (integer, null while not running), protocol (the MCP revision exai speaks to it, 2025-11-25 or 2026-07-28; null before it first connected), lastError (why it last stopped or failed, or that it is still starting after the 10 s lists wait; null if never) and catalogProblem (a list whose cursors never ended, with the cursor where exai stopped following it; null if none). state idle: not running, the next request routed to it starts it (a lazy server before first use, or any after its idleTimeout); its counts are then those of its cached catalog",
        items: {
          type: 'object',
          properties: {
            name: { type: 'string' },
            state: { type: 'string', enum: ['starting', 'up', 'idle', 'restarting', 'failed', 'stopped'] },
            lifecycle: { type: 'string', enum: ['eager', 'lazy'], description: 'eager: starts with the daemon; lazy: on its first request' },
            idleTimeoutMs: { type: 'integer', description: 'stops after this long unused; 0 = never' },
            restarts: { type: 'integer', description: 'restarts after crashes' },
            tools: { type: 'integer' },
            prompts: { type: 'integer' },
            resources: { type: 'integer' },
            stderrTail: { type: 'array', items: { type: 'string' }, description: 'its last stderr lines, oldest first' },
          },
          required: ['name', 'state', 'restarts', 'tools', 'stderrTail'],
        },
      },
      upstreamsConfigError: { type: 'string', description: 'why .exai/servers.json is unusable; absent when it is fine or absent' },
    },
    // One `type` per property and no null: the JSON Schema subset every model API accepts
    // (Gemini's function declarations reject type arrays).
    required: ['workspace', 'id', 'name', 'port', 'pid', 'version', 'uptimeMs', 'sessions', 'sessionsByTransport', 'upstreams'],
  },
  annotations: { readOnlyHint: true, openWorldHint: false },
};

export function builtinTools(state: DaemonState): BuiltinTool[] {
  return [
    {
      definition: statusTool,
      call: () => {
        const status = statusSnapshot(state);
        const { upstreamsConfigError, ...rest } = status;
        return {
          content: [{ type: 'text', text: JSON.stringify(status, null, 2) }],
          structuredContent: upstreamsConfigError === null ? rest : { ...rest, upstreamsConfigError },
        };
      },
    },
  ];
}
