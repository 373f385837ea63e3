/**
 * Which MCP era exai speaks to an upstream (DESIGN.md "Protocol eras"). The SDK v2 client does
 * the negotiation (`versionNegotiation`, `connect({ prior })`); this module only decides what to
 * ask it for: `"protocol"` from servers.json, else the verdict remembered with the cached
 * catalog, else a probe (`auto`: `server/discover`, falling back to `initialize`).
 */
import { Client, SdkError, SdkErrorCode, type PriorDiscovery } from '@modelcontextprotocol/client';
import type { ConnectOptions, VersionNegotiationOptions } from '@modelcontextprotocol/client';
import type { WireMessage } from '../../transport/jsonrpc.js';
import { TASKS_EXTENSION } from '../era-tasks.js';
import { DECLARE_TASKS_META } from './modern-tasks.js';
import type { UpstreamProtocol } from './config.js';
import { monotonicNow } from '../../common/clock.js';

export type { PriorDiscovery } from '@modelcontextprotocol/client';

export const MODERN_PROTOCOL_VERSION = '2026-07-28';
export const LEGACY_PROTOCOL_VERSION = '2025-11-25';

/** What one connect asks the SDK client for. */
export interface EraPlan {
  /** One word for logs: how the era is chosen this time. */
  readonly how: 'probe' | 'pinned' | 'cached';
  readonly negotiation: VersionNegotiationOptions | undefined;
  readonly connect: ConnectOptions;
}

/**
 * The plan for one start. A cached verdict is used only while it agrees with `"protocol"`;
 * `forceLegacy` is the second attempt of an `auto` start whose probe the server did not survive
 * (servers that exit on any request before `initialize`).
 */
export function eraPlan(protocol: UpstreamProtocol, cached: PriorDiscovery | undefined, timeoutMs: number, forceLegacy = false): EraPlan {
  const timeout = { timeout: timeoutMs };
  if (forceLegacy || protocol === LEGACY_PROTOCOL_VERSION) return { how: forceLegacy ? 'probe' : 'pinned', negotiation: undefined, connect: { ...timeout, prior: { kind: 'legacy' } } };
  if (cached && (protocol === 'auto' || cached.kind === 'modern')) {
    return { how: 'cached', negotiation: undefined, connect: { ...timeout, prior: cached } };
  }
  if (protocol === MODERN_PROTOCOL_VERSION) {
    return { how: 'pinned', negotiation: { mode: { pin: MODERN_PROTOCOL_VERSION } }, connect: timeout };
  }
  // A stdio server that stays silent on the probe is a legacy one (the SDK's rule); it must leave
  // time for initialize within the start timeout.
  const probeMs = Math.max(500, Math.min(5_000, Math.floor(timeoutMs / 3)));
  return { how: 'probe', negotiation: { mode: 'auto', probe: { timeoutMs: probeMs } }, connect: timeout };
}

/** Why one start failed: `probeKilledIt` when it exited on the probe, `unanswered` when it stayed up without answering. */
export interface StartFailure {
  detail: string;
  probeKilledIt: boolean;
  unanswered: boolean;
  /** Set when the server does not speak the revision `"protocol"` pins: what to change; it is not retried. */
  fix?: string;
}

/**
 * A pinned start the server refused for its revision: the failure, with the fix (`"protocol"` in
 * servers.json). Undefined for any other failure. Both cases are certain, so not retried: -32022
 * to initialize (a 2026-07-28-only server), or `server/discover` not offering 2026-07-28: the
 * SDK's verdict (the server's own answer named when it gave one, such as -32601), or the
 * process exiting before it answered (2025-era servers that end on anything before initialize).
 */
export function pinRefusal(
  plan: EraPlan,
  protocol: UpstreamProtocol,
  err: unknown,
  start: { exitedUndiscovered: boolean; heard: WireMessage | undefined; detail: string },
): StartFailure | undefined {
  const failure = (why: string, fix: string) => ({ detail: why, probeKilledIt: false, unanswered: false, fix });
  if (plan.how !== 'pinned') return undefined;
  if (protocol === LEGACY_PROTOCOL_VERSION && isRecord(err) && err.code === -32022) {
    const supported = isRecord(err.data) && Array.isArray(err.data.supported) ? ` (it speaks ${err.data.supported.join(', ')})` : '';
    return failure(`it refuses MCP ${LEGACY_PROTOCOL_VERSION}, which its "protocol" pins${supported} (${start.detail})`, `set its "protocol" to "auto" or "${MODERN_PROTOCOL_VERSION}"`);
  }
  const verdict = err instanceof SdkError && err.code === SdkErrorCode.EraNegotiationFailed;
  if (protocol === MODERN_PROTOCOL_VERSION && (verdict || start.exitedUndiscovered)) {
    const answered = start.heard && 'error' in start.heard && isRecord(start.heard.error) ? start.heard.error : undefined;
    // The SDK closes the server after its verdict: an exit then is exai's doing, not the cause.
    const how = answered ? ` (it answered ${String(answered.code)} ${String(answered.message)})` : verdict ? '' : ` (${start.detail})`;
    return failure(
      `it did not offer MCP ${MODERN_PROTOCOL_VERSION}, which its "protocol" pins, in answer to server/discover${how}`,
      `if it speaks ${LEGACY_PROTOCOL_VERSION} only, set its "protocol" to "auto" or "${LEGACY_PROTOCOL_VERSION}"`,
    );
  }
  return undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/**
 * One start in `plan`'s era. An `auto` start whose server exited on the `server/discover` probe
 * (servers that end on any request before initialize) is a 2025 server: it gets a second start,
 * initialized at once, when `again()` agrees. A failure names both attempts of a probe.
 */
export async function startInEra(
  plan: EraPlan,
  protocol: UpstreamProtocol,
  startTimeoutMs: number,
  connect: (plan: EraPlan) => Promise<StartFailure | undefined>,
  again: () => boolean,
): Promise<StartFailure | undefined> {
  const started = monotonicNow();
  const failure = await connect(plan);
  if (failure?.probeKilledIt && again()) {
    const left = Math.max(1_000, startTimeoutMs - (monotonicNow() - started));
    const second = await connect(eraPlan(protocol, undefined, left, true));
    if (second) second.detail = `it answered neither server/discover (it exited on it) nor initialize (${second.detail})`;
    return second;
  }
  if (failure?.unanswered && plan.how === 'probe') failure.detail = `it answered neither server/discover nor initialize (${failure.detail})`;
  return failure;
}

/** The verdict to remember with the catalog after a connect succeeded. */
export function verdictOf(client: Client): PriorDiscovery {
  const discover = client.getDiscoverResult();
  return client.getProtocolEra() === 'modern' && discover ? { kind: 'modern', discover } : { kind: 'legacy' };
}

/** `2026-07-28` or `2025-11-25`-era name of a verdict, for logs and exai_status. */
export function eraName(verdict: PriorDiscovery | undefined): string | undefined {
  if (!verdict) return undefined;
  return verdict.kind === 'modern' ? MODERN_PROTOCOL_VERSION : LEGACY_PROTOCOL_VERSION;
}

/**
 * A 2026-07-28 server announces list changes only on a `subscriptions/listen` stream: opens one
 * for the lists it says change (their notifications reach the client's handlers); undefined
 * when it announces none.
 */
export function listenForListChanges(client: Client, caps: { tools?: { listChanged?: boolean }; prompts?: { listChanged?: boolean }; resources?: { listChanged?: boolean } }): Promise<unknown> | undefined {
  const filter = {
    ...(caps.tools?.listChanged ? { toolsListChanged: true } : {}),
    ...(caps.prompts?.listChanged ? { promptsListChanged: true } : {}),
    ...(caps.resources?.listChanged ? { resourcesListChanged: true } : {}),
  };
  return Object.keys(filter).length === 0 ? undefined : client.listen(filter);
}

/**
 * exai's client of one upstream. The gateway writes sessions' requests to the upstream without
 * the SDK; on a 2026-07-28 connection each needs the per-request `_meta` envelope the SDK
 * attaches to its own (protocol version, client info, client capabilities): `envelope()` lends it.
 */
export class UpstreamClient extends Client {
  envelope(): Readonly<Record<string, unknown>> | undefined {
    return this._outboundMetaEnvelope();
  }
}

/**
 * The message with exai's envelope in `params._meta` (replacing a 2026 session's own: exai is
 * the upstream's client, with its own capabilities; a 2026 session's log level stays). Responses
 * pass unchanged.
 */
export function withEnvelope(message: WireMessage, envelope: Readonly<Record<string, unknown>>): WireMessage {
  if (!('method' in message)) return message;
  const params = message.params ?? {};
  const { [DECLARE_TASKS_META]: declareTasks, ...meta } = typeof params._meta === 'object' && params._meta !== null ? (params._meta as Record<string, unknown>) : {};
  // A 2026-07-28 server logs only for requests that name a level. A 2025 session chose its level
  // with logging/setLevel, which its own Server applies to what reaches it: ask for everything.
  const level = 'id' in message && !(LOG_LEVEL in meta) ? { [LOG_LEVEL]: 'debug' } : {};
  // The tasks extension is declared only on the calls a session asked to run as tasks (modern-tasks.ts).
  return { ...message, params: { ...params, _meta: { ...meta, ...level, ...(declareTasks === true ? withTasksExtension(envelope) : envelope) } } };
}

function withTasksExtension(envelope: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const capabilities = (envelope[CLIENT_CAPABILITIES] ?? {}) as { extensions?: Record<string, unknown> };
  return { ...envelope, [CLIENT_CAPABILITIES]: { ...capabilities, extensions: { ...capabilities.extensions, [TASKS_EXTENSION]: {} } } };
}

const CLIENT_CAPABILITIES = 'io.modelcontextprotocol/clientCapabilities';

const LOG_LEVEL = 'io.modelcontextprotocol/logLevel';

const ENVELOPE_KEYS = ['io.modelcontextprotocol/protocolVersion', 'io.modelcontextprotocol/clientInfo', 'io.modelcontextprotocol/clientCapabilities', 'io.modelcontextprotocol/logLevel'];

/**
 * A 2026-07-28 session's request on its way to a 2025-11-25 server, without the session's own
 * envelope: it names an era the server does not speak (an SDK v2 server serving the 2025 era
 * then drops the request's progress). Other messages pass unchanged.
 */
export function withoutEnvelope(message: WireMessage): WireMessage {
  if (!('method' in message)) return message;
  const meta = message.params?._meta;
  if (typeof meta !== 'object' || meta === null || !ENVELOPE_KEYS.some((k) => k in meta)) return message;
  const rest = Object.fromEntries(Object.entries(meta).filter(([k]) => !ENVELOPE_KEYS.includes(k)));
  return { ...message, params: { ...message.params, _meta: rest } };
}
