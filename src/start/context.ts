/**
 * A workspace's start, resolved once: identity, registry entry, token, EXAI_HOME, launch plan
 * and the workspace's own daemon, in one value every step of the start takes (DESIGN.md
 * "Lifecycle"; eslint_d's bin resolves its context once the same way). Nothing below re-reads
 * the registry or the token for what this holds; a start that waited for its lock re-resolves
 * only when the stamp says EXAI_HOME changed meanwhile (`refreshed`).
 */
import { appName, resolveWorkspace, type Workspace } from '../workspace/identity.js';
import { readLaunchEnv, type LaunchEnv } from '../workspace/launch-env.js';
import type { RegistryEntry } from '../workspace/registry-file.js';
import { stateStamp } from '../workspace/state-stamp.js';
import { readToken } from '../workspace/token.js';
import { daemonEnvNames, loadDaemonFile, type DaemonFile } from '../workspace/daemon-file.js';
import { kindsHoldingExai } from '../supervisor/client-config.js';
import { usableConfigs } from '../supervisor/configs.js';
import { portSettings } from '../supervisor/ports.js';
import { Registry } from '../supervisor/registry.js';
import { planLaunch, type LaunchPlan, type SpawnOptions } from './launch-plan.js';

/** What a start knows before it talks to pm2. */
export interface ResolvedContext {
  opts: SpawnOptions;
  env: NodeJS.ProcessEnv;
  workspace: Workspace;
  home: string;
  /** The pm2 app name (the registry's, else `appName`). */
  name: string;
  registry: Registry;
  /** The workspace's token as read; undefined until its first start creates it. */
  token: string | undefined;
  entry: RegistryEntry | undefined;
  plan: LaunchPlan;
  /** The launch environment recorded before this start (restored if it fails). */
  recorded: LaunchEnv | undefined;
  /** The workspace's own daemon (.exai/daemon.json), when it has one. */
  own?: DaemonFile;
  /** Client configs left unwritten because they cannot be parsed, one line each. */
  skippedConfigs?: string[];
  /** `stateStamp` taken before the entry and token were read. */
  stamp: string;
}

/** A context whose token exists: what the steps under the lock take (ensure.ts creates it). */
export interface StartContext extends ResolvedContext {
  token: string;
}

/**
 * What the caller already read of EXAI_HOME (the shim, the fleet brought back): taken as is,
 * not read again. `stamp` must be taken before the reads it vouches for.
 */
export interface Known {
  workspace?: Workspace;
  entry?: RegistryEntry | undefined;
  token?: string | undefined;
  stamp?: string;
}

/**
 * Resolves a start and checks everything that can be checked before anything starts: port
 * settings, the registry (a corrupt one stops here), .exai/daemon.json, passed variables (one
 * with no value stops here), every client config it will write (an unparsable one stops a
 * first spawn; any other start skips it, warned once by the caller).
 */
export function resolveContext(opts: SpawnOptions, known: Known = {}): ResolvedContext {
  const workspace = known.workspace ?? resolveWorkspace(opts.workspace);
  const { home } = opts;
  const env = opts.env ?? process.env;
  portSettings(env); // bad EXAI_PORT_* is a usage error before any work
  const fromCaller = known.stamp !== undefined;
  const stamp = fromCaller ? known.stamp! : stateStamp(home, workspace.id);
  const registry = new Registry(home);
  const entry = fromCaller ? known.entry : registry.get(workspace.id);
  const token = fromCaller ? known.token : readToken(home, workspace.id);
  const recorded = readLaunchEnv(home, workspace.id);
  const own = loadDaemonFile(workspace.path);
  const planned = planLaunch(opts, entry, recorded, kindsHoldingExai(workspace.path), own ? daemonEnvNames(own) : []);
  const { writeKinds, skippedConfigs } = usableConfigs(opts, entry, workspace, planned, own);
  const plan: LaunchPlan = { ...planned, writeKinds };
  return { opts, env, workspace, home, name: entry?.name ?? appName(workspace, home), registry, token, entry, plan, recorded, own, skippedConfigs, stamp };
}

/** The context as it is now: itself while EXAI_HOME is unchanged, else resolved again. */
export function refreshed(ctx: ResolvedContext): ResolvedContext {
  if (stateStamp(ctx.home, ctx.workspace.id) === ctx.stamp) return ctx;
  return resolveContext(ctx.opts, { workspace: ctx.workspace });
}
