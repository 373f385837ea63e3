/**
 * What a start of a workspace's daemon will run with, worked out before anything starts: the
 * launch spec's fields (passed-variable names, idle timeout), the launch environment to record,
 * and the client configs to write. One plan for every start path (DESIGN.md "Lifecycle").
 */
import type { FleetEvent } from './ensure.js';
import { captureLaunchEnv, type LaunchEnv } from '../workspace/launch-env.js';
import type { ClientKind, RegistryEntry } from '../workspace/registry-file.js';
import type { SpawnStep } from '../supervisor/configs.js';

export interface SpawnOptions {
  /** The workspace directory as the user gave it. */
  workspace: string;
  home: string;
  /** The caller's environment: port settings, and for an explicit spawn the values to record. */
  env?: NodeJS.ProcessEnv;
  /** `--port N`: pin the workspace to this port. */
  port?: number;
  /** `--client`: configs to write (and record) on top of those recorded. */
  clients?: readonly ClientKind[];
  /** `--transport`: Claude Code's entry over stdio (the shim) or Streamable HTTP; undefined keeps its entry's. */
  transport?: 'stdio' | 'http';
  /** `--no-config`: write no client config this time. */
  writeConfig?: boolean;
  /** `--restart`: restart even a healthy daemon. */
  restart?: boolean;
  /** The port to try first for a workspace with no port yet (the shim passes its config's). */
  preferredPort?: number;
  /** Never replace a daemon pm2 calls online (the shim: one that did not answer it may be busy). */
  keepRunning?: boolean;
  /** Warn about upstreams that did not come up (default true; bulk paths leave it to their command). */
  reportUpstreams?: boolean;
  /** Set by `exai spawn` only: the user's own command records launch inputs from their shell. */
  explicit?: ExplicitSpawn;
  onProgress?: (message: string) => void;
  onWarning?: (message: string) => void;
  /**
   * True once the user interrupted the command (SIGINT/SIGTERM): a start whose daemon has not
   * started yet is rolled back (INTERRUPTED); one whose daemon started is finished.
   */
  interrupted?: () => boolean;
  /** Awaited at each step of a start (the CLI's test pause, EXAI_TEST_PAUSE_AT). */
  onStep?: (step: SpawnStep) => Promise<void>;
  /** Told when this command found pm2 dead and brought the fleet back (ensure.ts). */
  onFleet?: (event: FleetEvent) => void;
}

export interface ExplicitSpawn {
  /** Names to pass to the daemon (`--pass-env`, `EXAI_PASS_ENV`), added to those recorded. */
  passEnv: readonly string[];
  /** Names no longer to pass (`--drop-env`), taken out of those recorded. */
  dropEnv?: readonly string[];
  /** `--idle-timeout` in ms (0 = never); undefined keeps the recorded one. */
  idleTimeoutMs?: number;
  /** Configs for a workspace this spawn registers when `--client` names none (VS Code's). */
  defaultClients: readonly ClientKind[];
}

export interface LaunchPlan {
  /** The launch environment the daemon will read at start. */
  env: LaunchEnv;
  /** Passed-variable names for the registry entry. */
  passEnv: string[];
  /** The idle timeout for the registry entry (undefined: the default). */
  idleTimeoutMs: number | undefined;
  /**
   * Client configs to write: those recorded, those asked for, and for the user's own spawn those
   * already holding an exai entry (a folder moved or copied with its configs); never one nobody asked for.
   */
  writeKinds: ClientKind[];
}

/**
 * Plans a start from the registry entry (if any), the recorded launch environment (if any)
 * and the options. Only an explicit spawn takes values from the caller's environment; every
 * other path reuses what was recorded (a workspace with nothing recorded yet — first started
 * by the shim, or registered by an older exai — records its starter's base variables).
 * Throws ENV_INVALID for a passed name that has no value anywhere.
 */
export function planLaunch(opts: SpawnOptions, entry: RegistryEntry | undefined, recorded: LaunchEnv | undefined, holdingExai: readonly ClientKind[] = [], daemonNames: readonly string[] = []): LaunchPlan {
  const callerEnv = opts.env ?? process.env;
  const dropped = new Set(opts.explicit?.dropEnv ?? []);
  // `${env:NAME}` in .exai/daemon.json is recorded like `--pass-env NAME`.
  const passEnv = [...new Set([...(entry?.passEnv ?? []), ...(opts.explicit?.passEnv ?? []), ...(opts.explicit ? daemonNames : [])])].filter((name) => !dropped.has(name));
  const env = opts.explicit || !recorded ? captureLaunchEnv(callerEnv, passEnv, recorded) : recorded;
  const asked = opts.clients?.length ? opts.clients : !entry && opts.explicit ? opts.explicit.defaultClients : [];
  // Only the user's own spawn adopts configs it did not record: bulk paths write what was recorded.
  const adopted = opts.explicit ? holdingExai : [];
  const writeKinds = opts.writeConfig === false ? [] : [...new Set([...(entry?.clients ?? []), ...asked, ...adopted])];
  return { env, passEnv, idleTimeoutMs: opts.explicit?.idleTimeoutMs ?? entry?.idleTimeoutMs, writeKinds };
}

