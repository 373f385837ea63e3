/**
 * One start of an upstream: its process tree on exai's child-process transport, the SDK (v2)
 * client that connects to it in its era (era.ts), and the first reading of its catalog.
 * Supervision (when to start, what a failure means) is upstream.ts's.
 */
import { existsSync } from 'node:fs';
import { SdkError, SdkErrorCode, type ClientCapabilities as V2ClientCapabilities } from '@modelcontextprotocol/client';
import type { ClientCapabilities, ServerCapabilities } from '@modelcontextprotocol/client';
import { errorMessage } from '../../common/errors.js';
import { EXAI_VERSION } from '../../common/version.js';
import { ChildProcessTransport, SpawnError } from '../../transport/child-process.js';
import { MAX_PAYLOAD } from '../../transport/constants.js';
import { INTERNAL_ERROR, errorResponse, type WireMessage } from '../../transport/jsonrpc.js';
import type { Logger } from '../log.js';
import { readCatalog, type Catalog, type PagingReport } from './catalog.js';
import type { UpstreamSpec } from './config.js';
import { upstreamEnv } from './env.js';
import { UpstreamClient, verdictOf, type EraPlan, type PriorDiscovery } from './era.js';
import type { SupervisionOptions } from './supervision.js';

/**
 * What the gateway declares to every upstream: everything a client can offer (MCP 2025-11-25),
 * tasks included, so servers register the tools that need them (server-everything hides two
 * tools from a client without task-augmented sampling and elicitation). The gateway finds a
 * session that can answer each request, or answers it itself.
 */
export const UPSTREAM_CLIENT_CAPABILITIES: ClientCapabilities = {
  sampling: {},
  elicitation: { form: {}, url: {} },
  roots: { listChanged: true },
  tasks: { list: {}, cancel: {}, requests: { sampling: { createMessage: {} }, elicitation: { create: {} } } },
};

export interface LaunchHooks {
  log: Logger;
  onStderrLine(line: string): void;
  /** Every message from the server before the SDK client sees it; true when taken (the gateway's relay). */
  intercept(message: WireMessage): boolean;
}

/**
 * The transport and client of one start, not yet connected; `{ error }` (one line) when it
 * cannot even be tried. The process is spawned by `initialize`.
 */
export function launch(
  spec: UpstreamSpec,
  options: SupervisionOptions,
  hooks: LaunchHooks,
  plan: EraPlan,
): { client: UpstreamClient; transport: ChildProcessTransport; closed: Promise<void> } | { error: string } {
  if (!existsSync(spec.cwd)) {
    // Node would report this as the command missing (ENOENT): say what is really wrong.
    return { error: `its cwd ${JSON.stringify(spec.cwd)} does not exist (check "cwd" in servers.json)` };
  }
  let markClosed!: () => void;
  const closed = new Promise<void>((resolve) => (markClosed = resolve));
  const transport = new ChildProcessTransport({
    onClose: () => markClosed(),
    command: spec.command,
    args: spec.args,
    cwd: spec.cwd,
    env: upstreamEnv(spec.env),
    maxMessageBytes: MAX_PAYLOAD,
    closeGraceMs: Math.round(options.stopGraceMs / 3),
    killGraceMs: Math.round((options.stopGraceMs * 2) / 3),
    onStderrLine: hooks.onStderrLine,
    onOversize: (id, bytes) => {
      const message = `upstream server "${spec.name}" sent a message of ${formatBytes(bytes)}, more than the ${formatBytes(MAX_PAYLOAD)} limit of exai; only this request failed (ask for less at once)`;
      hooks.log.warn(`upstream ${spec.name}: dropped a ${bytes}-byte message (limit ${MAX_PAYLOAD} bytes)${id === undefined ? '' : ` answering ${JSON.stringify(id)}`}`);
      return id === undefined ? undefined : errorResponse(id, INTERNAL_ERROR, message, { limitBytes: MAX_PAYLOAD, bytes });
    },
    intercept: hooks.intercept,
  });
  const client = new UpstreamClient(
    { name: 'exai', version: EXAI_VERSION },
    // The catalog is exai's own cache (catalog-cache.ts): the SDK's response cache would only
    // serve a re-read after list_changed from memory.
    { capabilities: UPSTREAM_CLIENT_CAPABILITIES as V2ClientCapabilities, versionNegotiation: plan.negotiation, defaultCacheTtlMs: 0 },
  );
  return { client, transport, closed };
}

/**
 * Spawns the process, connects in the era `plan` chooses (probe, pin, or the cached verdict),
 * and reads the catalog, all within `timeoutMs`.
 */
export async function initialize(
  client: UpstreamClient,
  transport: ChildProcessTransport,
  closed: Promise<void>,
  timeoutMs: number,
  plan: EraPlan,
  report?: PagingReport,
): Promise<{ capabilities: ServerCapabilities; catalog: Catalog; era: PriorDiscovery }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`did not finish initializing within ${timeoutMs} ms`)), timeoutMs);
    // A process that dies during the start fails it at once, also while its era is probed.
    void closed.then(() => reject(new Error('the process exited before initializing')));
  });
  try {
    await Promise.race([client.connect(transport, plan.connect), timeout]);
    const capabilities = (client.getServerCapabilities() ?? {}) as ServerCapabilities;
    const catalog = await Promise.race([readCatalog(client, capabilities, report), timeout]);
    return { capabilities, catalog, era: verdictOf(client) };
  } finally {
    clearTimeout(timer);
  }
}

/** Closes the SDK client and stops the process tree; resolves when the tree is gone. */
export async function terminate(client: UpstreamClient | undefined, transport: ChildProcessTransport): Promise<void> {
  await Promise.all([transport.close(), client?.close().catch(() => undefined)]);
}

export function describeStartError(err: unknown, command: string, transport: ChildProcessTransport): string {
  if (err instanceof SpawnError) {
    if (err.code === 'ENOENT') return `command ${JSON.stringify(command)} not found (check "command" and PATH)`;
    if (err.code === 'EACCES') return `command ${JSON.stringify(command)} is not executable`;
  }
  if (transport.exit) {
    const { code, signal } = transport.exit;
    return `the process exited before initializing (${signal ? `killed by ${signal}` : `exit code ${code}`})`;
  }
  return errorMessage(err);
}

function formatBytes(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / (1024 * 1024)).toFixed(1).replace(/\.0$/, '')} MiB` : `${bytes} bytes`;
}

/**
 * Whether an `auto` connect failed because the server exited on the `server/discover` probe
 * (the SDK's typed error when a stdio-shaped transport it probes in place closes): such a
 * server speaks only 2025-era stdio and is started again with initialize.
 */
export function probeKilledIt(err: unknown, transport: ChildProcessTransport): boolean {
  return err instanceof SdkError && err.code === SdkErrorCode.EraNegotiationFailed && (transport.exit !== undefined || /closed/.test(err.message));
}
