/**
 * `exai doctor` for a workspace that runs its own daemon (.exai/daemon.json): the file still
 * sound, the daemon passing its declared readiness check and started with this launch spec, no
 * side ports or non-loopback listeners (a warning), and its `client` entry in every recorded config.
 */
import { existsSync } from 'node:fs';
import { errorMessage } from '../common/errors.js';
import { launchDigest, readLaunchEnv } from '../workspace/launch-env.js';
import type { RegistryEntry } from '../workspace/registry-file.js';
import { readToken } from '../workspace/token.js';
import { clientConfigPath, configCurrent, configSettings } from '../supervisor/client-config.js';
import { writeRecordedConfigs } from '../supervisor/configs.js';
import type { Finding } from './finding.js';
import { currentDaemonFile, listeningSockets, ownHealthy, sideListeners } from '../start/own-health.js';
import type { Pm2 } from '../supervisor/pm2.js';
import type { Registry } from '../supervisor/registry.js';
import { resolveContext } from '../start/context.js';
import { ensureRunning } from '../start/ensure.js';

/** What doctor.ts hands a workspace's check (its WorkspaceCheck, structurally). */
export interface OwnCheck {
  home: string;
  pm2: Pm2;
  registry: Registry;
  fix: boolean;
  hasApp: boolean;
  status: string;
  add: (f: Finding) => void;
}

export async function checkOwnDaemon(entry: RegistryEntry, c: OwnCheck): Promise<void> {
  const scope = entry.workspace;
  const quoted = JSON.stringify(entry.workspace);
  const { own, error } = currentDaemonFile(entry);
  if (error) c.add({ scope, check: 'daemon.json', status: 'problem', message: error, fix: `fix it, then exai spawn --workspace ${quoted}` });
  else if (!own) c.add({ scope, check: 'daemon.json', status: 'problem', message: `${entry.workspace}/.exai/daemon.json is gone but its daemon is registered`, fix: `exai spawn --workspace ${quoted} (runs exai's daemon instead)` });
  const token = readToken(c.home, entry.id);
  let problem: string | undefined;
  let stale = false;
  const healthy = c.status === 'online' && (await ownHealthy(entry, own));
  if (!c.hasApp) problem = `no pm2 app ${entry.name}`;
  else if (c.status !== 'online') problem = `its daemon is ${c.status}`;
  else if (!healthy) problem = `its daemon does not pass its readiness check on port ${entry.port}`;
  else if (own && token && entry.ownDaemon?.spec !== launchDigest(entry, readLaunchEnv(c.home, entry.id), token, own.text)) {
    stale = true;
    problem = 'its daemon was started with another .exai/daemon.json or other launch inputs than recorded';
  }
  if (!problem) {
    c.add({ scope, check: 'daemon', status: 'ok', message: `its own daemon (.exai/daemon.json) is ready on port ${entry.port}` });
    const pid = (await c.pm2.describe(entry.name))?.pid;
    const side = pid ? listeningSockets(pid) : undefined;
    const line = side && sideListeners(side, entry.port);
    if (line) c.add({ scope, check: 'listeners', status: 'warning', message: line });
  } else if (c.fix && own) {
    try {
      // On the command's own pm2 connection (see doctor.ts).
      const res = await ensureRunning(resolveContext({ workspace: entry.workspace, home: c.home, restart: stale }), c.pm2);
      c.add({ scope, check: 'daemon', status: 'fixed', message: `${problem}; now ready on port ${res.port}` });
      entry = { ...entry, port: res.port };
    } catch (err) {
      c.add({ scope, check: 'daemon', status: 'problem', message: `${problem}; fixing failed: ${errorMessage(err)}`, fix: `exai logs --workspace ${quoted}` });
    }
  } else {
    c.add({ scope, check: 'daemon', status: 'problem', message: problem, fix: stale ? `exai restart --workspace ${quoted}` : `exai spawn --workspace ${quoted}` });
  }
  await checkOwnConfigs(entry, c);
}

/** Each recorded config holds the daemon's `client` entry for the registered port. */
export async function checkOwnConfigs(entry: RegistryEntry, c: OwnCheck): Promise<void> {
  const scope = entry.workspace;
  const { own } = currentDaemonFile(entry);
  if (!own) return; // said above; nothing to compare with
  const dirs = configSettings(c.home, process.env, entry.id, own);
  for (const kind of entry.clients) {
    const file = clientConfigPath(kind, entry.workspace);
    const current = configCurrent(kind, entry.workspace, entry.port, dirs);
    if (current === true) {
      c.add({ scope, check: `config ${kind}`, status: 'ok', message: `${file} holds the daemon's client entry for port ${entry.port}` });
      continue;
    }
    const problem = current === 'unparsable' ? `${file} cannot be parsed` : existsSync(file) ? `${file} does not hold the daemon's client entry for port ${entry.port}` : `${file} is missing`;
    if (c.fix && current !== 'unparsable') {
      try {
        await writeRecordedConfigs({ registry: c.registry, workspace: entry.workspace, id: entry.id, kinds: [kind], port: entry.port, dirs });
        c.add({ scope, check: `config ${kind}`, status: 'fixed', message: `${problem}; rewrote it` });
      } catch (err) {
        c.add({ scope, check: `config ${kind}`, status: 'problem', message: `${problem}; fixing failed: ${errorMessage(err)}`, fix: `make ${file} writable, then exai doctor --fix` });
      }
    } else {
      c.add({ scope, check: `config ${kind}`, status: 'problem', message: problem, fix: current === 'unparsable' ? `fix ${file}, then exai doctor --fix` : 'exai doctor --fix' });
    }
  }
}
