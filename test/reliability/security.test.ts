/**
 * Security invariants, checked on a real fleet (pm2, daemons with an upstream, the shim):
 * loopback-only listeners read from the OS socket table, file modes, the token's absence from
 * everything it must never reach, and what a web page in a browser can get out of a daemon.
 */
import { request } from 'node:http';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestEnv, runPm2, shimTransport, spawnJson, waitFor, type CliResult, type TestEnv } from '../helpers/env.js';
import { handshake } from '../helpers/mcp-client.js';
import { LINUX } from '../helpers/platform.js';
import { EVERYTHING } from '../upstreams-helpers.js';
import { cliOk, filesUnder, listeningSocketsOf, modeOf, note, pm2DaemonPids, tcpSockets, tokenOf, type SpawnJson } from './support.js';

let t: TestEnv;
let fleet: SpawnJson[] = [];

/** Every descendant of a process (parent links from /proc/<pid>/stat). */
function descendants(pid: number): number[] {
  const all: { pid: number; ppid: number }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      all.push({ pid: Number(entry), ppid });
    } catch {
      // gone
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of all.filter((x) => x.ppid === p)) {
      out.push(c.pid);
      walk(c.pid);
    }
  };
  walk(pid);
  return out;
}

function procText(pid: number, what: 'cmdline' | 'environ'): string {
  return readFileSync(`/proc/${pid}/${what}`).toString('utf8').replace(/\0/g, ' ');
}

interface Http {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function http(port: number, method: string, path: string, headers: Record<string, string>): Promise<Http> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: { Host: `127.0.0.1:${port}`, ...headers } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  t = makeTestEnv();
  const withUpstream = t.workspace('sec-upstream');
  mkdirSync(join(withUpstream, '.exai'));
  writeFileSync(join(withUpstream, '.exai', 'servers.json'), JSON.stringify({ servers: { every: { command: process.execPath, args: [EVERYTHING, 'stdio'] } } }));
  fleet = [
    await spawnJson(t.env, withUpstream, '--client', 'vscode', '--client', 'claude', '--client', 'cursor'),
    await spawnJson(t.env, t.workspace('sec-b')),
    await spawnJson(t.env, t.workspace('sec-c')),
  ];
});
afterAll(async () => {
  await t.cleanup();
});

describe('security invariants', () => {
  // The OS socket table, process tree, cmdline and environ are read from /proc: Linux only (WINDOWS.md #31).
  it.runIf(LINUX)('[S1] every daemon listens on 127.0.0.1 only, one socket each (OS socket table); its upstreams, the shim and pm2 listen on nothing; other addresses of this host refuse the port', async (ctx) => {
    // Wait until the upstream is up, so its process exists to be inspected.
    const up = fleet[0]!;
    await waitFor(() => (descendants(up.pid).length > 0 ? true : undefined), { what: 'the upstream process' });

    const transport = shimTransport(t.env, up.port, up.workspace);
    const viaShim = new Client({ name: 's1', version: '0' });
    await viaShim.connect(transport);
    try {
      for (const d of fleet) {
        const listening = listeningSocketsOf(d.pid);
        expect(listening.map((s) => `${s.address}:${s.port}`), d.name).toEqual([`127.0.0.1:${d.port}`]);
        // Nobody at all listens on this port on a wildcard or another address.
        const onPort = tcpSockets().filter((s) => s.state === '0A' && s.port === d.port);
        expect(onPort.map((s) => s.address)).toEqual(['127.0.0.1']);
      }
      const children = descendants(up.pid);
      for (const pid of children) expect(listeningSocketsOf(pid), `upstream pid ${pid}`).toEqual([]);
      const gods = pm2DaemonPids(t.pm2Home);
      expect(gods).toHaveLength(1);
      expect(listeningSocketsOf(gods[0]!)).toEqual([]);
      expect(transport.pid).toBeTypeOf('number');
      expect(listeningSocketsOf(transport.pid!)).toEqual([]);

      const external = Object.values(networkInterfaces())
        .flat()
        .filter((i) => i && !i.internal && i.family === 'IPv4')
        .map((i) => i!.address);
      for (const address of external) {
        const refused = await new Promise<boolean>((resolve) => {
          const socket = connect({ host: address, port: up.port });
          socket.once('connect', () => {
            socket.destroy();
            resolve(false);
          });
          socket.once('error', () => resolve(true));
        });
        expect(refused, `${address}:${up.port}`).toBe(true);
      }
      note(ctx, `/proc/net/tcp + tcp6: each of ${fleet.length} daemons holds exactly one listening socket, 127.0.0.1:<its port>; no other listener on those ports (no 0.0.0.0, no ::)`);
      note(ctx, `no listening socket in ${children.length} upstream process(es), the pm2 daemon, or a running shim; connecting via this host's other addresses (${external.join(', ') || 'none found'}) is refused`);
    } finally {
      await viaShim.close();
    }
  });

  it.runIf(LINUX)('[S2] token file 0600, EXAI_HOME 0700; the token is in no client config, pm2 show/env/jlist/prettylist/describe/save output, log or state file under EXAI_HOME or PM2_HOME, CLI output, or /proc cmdline/environ', async (ctx) => {
    const d = fleet[0]!;
    const token = tokenOf(t, d.id);
    expect(token).toMatch(/^[0-9a-f]{64}$/);

    // Make every log say something: sessions, refusals carrying the real token, a shim session.
    expect((await handshake(d.port, { Authorization: `Bearer ${token}`, Origin: 'https://evil.example' })).status).toBe(403);
    expect((await handshake(d.port, { Authorization: `Bearer ${token}`, Host: `evil.example:${d.port}` })).status).toBe(403);
    expect((await handshake(d.port, { Authorization: `Bearer ${token.slice(0, 32)}` })).status).toBe(401);
    expect((await handshake(d.port, { Authorization: `Bearer ${token}` })).status).toBe(101);
    const transport = shimTransport(t.env, d.port, d.workspace, { EXAI_DEBUG: '1' });
    let shimStderr = '';
    transport.stderr?.on('data', (c: Buffer) => (shimStderr += c.toString()));
    const viaShim = new Client({ name: 's2', version: '0' });
    await viaShim.connect(transport);
    await viaShim.callTool({ name: 'exai_status', arguments: {} });
    const shimPid = transport.pid!;
    const shimProc = procText(shimPid, 'cmdline') + procText(shimPid, 'environ');

    // Modes.
    const modes: Record<string, string> = {
      EXAI_HOME: modeOf(t.home),
      tokens: modeOf(join(t.home, 'tokens')),
      'token file': modeOf(join(t.home, 'tokens', `${d.id}.token`)),
      'registry.json': modeOf(join(t.home, 'registry.json')),
      locks: modeOf(join(t.home, 'locks')),
    };
    expect(modes).toMatchObject({ EXAI_HOME: '700', tokens: '700', 'token file': '600', 'registry.json': '600', locks: '700' });

    // Everything that must not contain the token.
    const places: [string, string][] = [];
    for (const f of [join(d.workspace, '.vscode', 'mcp.json'), join(d.workspace, '.mcp.json'), join(d.workspace, '.cursor', 'mcp.json')]) {
      places.push([f.replaceAll(t.dir, '<tmp>'), readFileSync(f, 'utf8')]);
    }
    const apps = JSON.parse((await runPm2(['jlist'], t.env)).stdout.split('\n').find((l) => l.startsWith('['))!) as { name: string; pm_id: number }[];
    const app = apps.find((a) => a.name === d.name)!;
    const pm2Outputs: [string, CliResult][] = [
      [`pm2 show ${d.name}`, await runPm2(['show', d.name], t.env)],
      [`pm2 env ${app.pm_id}`, await runPm2(['env', String(app.pm_id)], t.env)],
      ['pm2 jlist', await runPm2(['jlist'], t.env)],
      ['pm2 prettylist', await runPm2(['prettylist'], t.env)],
      [`pm2 describe ${d.name}`, await runPm2(['describe', d.name], t.env)],
      ['pm2 save', await runPm2(['save'], t.env)],
    ];
    for (const [what, res] of pm2Outputs) {
      expect(res.code, what).toBe(0);
      places.push([what, res.stdout + res.stderr]);
    }
    // pm2 env really lists the daemon's environment (so its silence about the token means something).
    expect(pm2Outputs[1]![1].stdout).toContain('EXAI_WS_PORT');
    const cli: [string, string[]][] = [
      ['exai spawn --json', ['spawn', '--workspace', d.workspace, '--json']],
      ['exai list --json', ['list', '--json']],
      ['exai doctor --json', ['doctor', '--json']],
      ['exai logs', ['logs', '--workspace', d.workspace, '--lines', '1000']],
    ];
    for (const [what, args] of cli) {
      const res = await cliOk(t, args);
      places.push([what, res.stdout + res.stderr]);
    }
    const stateFiles = [...filesUnder(t.home), ...filesUnder(t.pm2Home)].filter((f) => !f.startsWith(join(t.home, 'tokens')));
    for (const f of stateFiles) places.push([f.replaceAll(t.dir, '<tmp>'), readFileSync(f).toString('latin1')]);
    const pids: [string, number][] = [
      ['daemon', d.pid],
      ['pm2 God daemon', pm2DaemonPids(t.pm2Home)[0]!],
      ...descendants(d.pid).map((p): [string, number] => ['upstream', p]),
    ];
    for (const [what, pid] of pids) {
      places.push([`/proc/${what}/cmdline`, procText(pid, 'cmdline')]);
      places.push([`/proc/${what}/environ`, procText(pid, 'environ')]);
    }
    places.push(['/proc/shim/cmdline+environ', shimProc], ['shim stderr (EXAI_DEBUG=1)', shimStderr]);
    await viaShim.close();

    // The logs are not empty: they did record the refusals and sessions above.
    const logText = stateFiles.filter((f) => f.includes('/logs/')).map((f) => readFileSync(f, 'utf8')).join('\n');
    expect(logText).toMatch(/refused/);
    expect(logText).toMatch(/session/);

    const leaks = places.filter(([, text]) => text.includes(token) || text.includes(token.slice(0, 16)));
    expect(leaks.map(([where]) => where)).toEqual([]);
    note(ctx, `modes: ${Object.entries(modes).map(([k, v]) => `${k} ${v}`).join(', ')}`);
    note(ctx, `token (and its first 16 hex chars) absent from ${places.length} places: 3 client configs (vscode, claude, cursor), ${pm2Outputs.map(([w]) => w.replace(d.name, '<app>')).join(', ')}; ${cli.map(([w]) => w).join(', ')}; ${stateFiles.length} files under EXAI_HOME (except tokens/) and PM2_HOME incl. every log and dump.pm2; /proc cmdline+environ of the daemon, the pm2 daemon, ${pids.length - 2} upstream process(es) and the shim; the shim's debug stderr`);
    note(ctx, 'logs contained the refusals of handshakes that carried the real token with a foreign Origin/Host: the token itself was not logged');
  });

  it('[S3] a browser-style request (Origin of a web site) can neither open a WebSocket nor read /health; a no-Origin /health shows only the fields DESIGN.md allows, with no CORS grant', async (ctx) => {
    const d = fleet[1]!;
    const token = tokenOf(t, d.id);
    const evil = { Origin: 'https://evil.example' };
    const browserWs = { ...evil, Cookie: 'session=abc', 'User-Agent': 'Mozilla/5.0' };
    const checks: string[] = [];

    // WebSocket from a page: browsers cannot add Authorization; with or without it, refused before any upgrade.
    for (const [what, headers] of [
      ['page, no token', browserWs],
      ['page that somehow knows the token', { ...browserWs, Authorization: `Bearer ${token}` }],
      ['token smuggled as a subprotocol', { ...browserWs, 'Sec-WebSocket-Protocol': `mcp, ${token}` }],
      ['DNS rebinding (Host evil, same-origin)', { Host: `evil.example:${d.port}`, Origin: `http://evil.example:${d.port}`, Authorization: `Bearer ${token}` }],
    ] as [string, Record<string, string>][]) {
      const res = await handshake(d.port, headers);
      expect(res.status, what).toBe(403);
      checks.push(`WS ${what}: ${res.status}`);
    }

    // /health from a page: refused, and the refusal carries none of the details.
    // DESIGN.md's fields, plus the daemon's state dir (so a shim of another EXAI_HOME can say which
    // one to use) and a launch-spec digest keyed with the token (README "Where exai refines DESIGN.md").
    // And the sessions count by transport (ws, http): two numbers; and `transports`, how a client may connect (README).
    const allowed = ['ok', 'version', 'id', 'pid', 'port', 'uptimeMs', 'sessions', 'sessionsByTransport', 'home', 'spec', 'transports'];
    for (const [what, method, headers] of [
      ['fetch GET with Origin', 'GET', evil],
      ['form POST with Origin', 'POST', { ...evil, 'Content-Type': 'application/x-www-form-urlencoded' }],
      ['CORS preflight', 'OPTIONS', { ...evil, 'Access-Control-Request-Method': 'GET' }],
      ['DNS rebinding GET', 'GET', { Host: `evil.example:${d.port}` }],
    ] as [string, string, Record<string, string>][]) {
      const res = await http(d.port, method, '/health', headers);
      expect(res.status, what).toBe(403);
      expect(res.headers['access-control-allow-origin'], what).toBeUndefined();
      expect(res.body).not.toContain(d.id);
      expect(res.body).not.toContain(String(d.pid));
      checks.push(`/health ${what}: ${res.status}, no details, no Access-Control-Allow-Origin`);
    }

    // No Origin at all (a tool, or a page's no-cors <img>/<script> it cannot read): the contract's fields only.
    const plain = await http(d.port, 'GET', '/health', {});
    expect(plain.status).toBe(200);
    expect(plain.headers['access-control-allow-origin']).toBeUndefined();
    expect(plain.headers['content-type']).toMatch(/^application\/json/);
    const body = JSON.parse(plain.body) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual([...allowed].sort());
    expect(plain.body).not.toContain(d.workspace);
    expect(plain.body).not.toContain(token);
    note(ctx, checks.join('; '));
    note(ctx, `/health without Origin: 200 application/json with exactly {${Object.keys(body).join(', ')}}, no workspace path, no token, no Access-Control-Allow-Origin (a page cannot read it cross-origin)`);
  });
});
