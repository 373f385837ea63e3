/**
 * Shared by the reliability suite (test/reliability, always run) and the stress suite
 * (test/stress, EXAI_STRESS=1): evidence for the report, /proc readers for the security
 * invariants, and the load / flood scenarios, parameterized so both suites run the same code
 * at different sizes.
 */
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { expect } from 'vitest';
import { countPm2Daemons, getHealth } from '../helpers/daemon.js';
import { pm2Apps, runCli, type CliResult, type TestEnv } from '../helpers/env.js';
import { pm2GodPids, WINDOWS, windowsWorkingSetKb } from '../helpers/platform.js';
import { RawSession } from '../helpers/mcp-client.js';
import { probeDaemon } from '../../src/start/health.js';
import { Registry } from '../../src/supervisor/registry.js';
import type { ListRow } from '../../src/fleet/list.js';
import type { SpawnResult as SpawnJson } from '../../src/start/spawn.js';

declare module 'vitest' {
  interface TaskMeta {
    /** What the test measured, one line each: copied into docs/RELIABILITY.md. */
    evidence?: string[];
    /** Set by tests marked `it.fails` for a bug in production code: the report shows it. */
    knownBug?: string;
  }
}

/** The slice of vitest's test context the helpers need (kept structural to avoid vitest internals). */
export interface Recorder {
  task: { meta: { evidence?: string[]; knownBug?: string } };
}

/** Records a measured fact for the report (and prints nothing: the report is the output). */
export function note(ctx: Recorder, line: string): void {
  (ctx.task.meta.evidence ??= []).push(line);
}

export function knownBug(ctx: Recorder, description: string): void {
  ctx.task.meta.knownBug = description;
}

export const STRESS = process.env.EXAI_STRESS === '1';

// ---------------------------------------------------------------------------------------------
// CLI

export type { SpawnJson };

export async function cliOk(t: TestEnv, args: string[], env: NodeJS.ProcessEnv = t.env): Promise<CliResult> {
  const res = await runCli(args, env);
  if (res.code !== 0) throw new Error(`exai ${args.join(' ')} failed (${res.code}): ${res.stderr}${res.stdout}`);
  return res;
}

export async function listJson(t: TestEnv, env: NodeJS.ProcessEnv = t.env): Promise<ListRow[]> {
  return JSON.parse((await cliOk(t, ['list', '--json'], env)).stdout) as ListRow[];
}

/** A CLI failure as the contract wants it: exit 1 (or `code`), exactly one stderr line. */
export function expectOneLineFailure(res: CliResult, code = 1): string {
  expect(res.code, `stdout: ${res.stdout}\nstderr: ${res.stderr}`).toBe(code);
  const lines = res.stderr.trim().split('\n');
  expect(lines, res.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^exai: /);
  return lines[0]!;
}

export function tokenOf(t: TestEnv, id: string): string {
  return readFileSync(join(t.home, 'tokens', `${id}.token`), 'utf8').trim();
}

// ---------------------------------------------------------------------------------------------
// /proc

/** Resident set size of a process in KiB (Linux /proc/<pid>/status VmRSS; the working set on Windows). */
export function rssKb(pid: number): number {
  if (WINDOWS) return windowsWorkingSetKb(pid);
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match?.[1]) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]);
}

export function mb(kb: number): string {
  return `${(kb / 1024).toFixed(1)} MB`;
}

/** Pids of the pm2 God daemons of this PM2_HOME (their title names it; on Windows: of the machine). */
export const pm2DaemonPids = pm2GodPids;

export interface TcpSocket {
  table: 'tcp' | 'tcp6';
  /** Local address as text: 127.0.0.1, 0.0.0.0, ::, ::ffff:127.0.0.1, … */
  address: string;
  port: number;
  /** The kernel's state code: 0A = LISTEN, 01 = ESTABLISHED. */
  state: string;
  rxQueue: number;
  inode: number;
}

function hexToIpv4(hex: string): string {
  // /proc/net/tcp prints the address as a little-endian 32-bit word.
  const bytes = hex.match(/../g)!.map((b) => parseInt(b, 16)).reverse();
  return bytes.join('.');
}

function hexToIpv6(hex: string): string {
  // Four little-endian 32-bit words.
  const words = hex.match(/.{8}/g)!.map((w) => w.match(/../g)!.reverse().join(''));
  const groups = words.join('').match(/.{4}/g)!.map((g) => g.replace(/^0+(?=.)/, ''));
  const text = groups.join(':');
  if (text === '0:0:0:0:0:0:0:0') return '::';
  if (text === '0:0:0:0:0:0:0:1') return '::1';
  if (text.startsWith('0:0:0:0:0:ffff:')) {
    const v4 = hex.slice(24);
    return `::ffff:${hexToIpv4(v4)}`;
  }
  return text;
}

/** Every TCP socket in the OS socket tables (/proc/net/tcp and tcp6). */
export function tcpSockets(): TcpSocket[] {
  const out: TcpSocket[] = [];
  for (const table of ['tcp', 'tcp6'] as const) {
    let text: string;
    try {
      text = readFileSync(`/proc/net/${table}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.trim().split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      const [addrHex, portHex] = (f[1] ?? '').split(':');
      const queues = (f[4] ?? '0:0').split(':');
      if (!addrHex || !portHex) continue;
      out.push({
        table,
        address: table === 'tcp' ? hexToIpv4(addrHex) : hexToIpv6(addrHex),
        port: parseInt(portHex, 16),
        state: f[3] ?? '',
        rxQueue: parseInt(queues[1] ?? '0', 16),
        inode: Number(f[9]),
      });
    }
  }
  return out;
}

/** The socket inodes a process holds open (from its /proc/<pid>/fd links). */
export function socketInodes(pid: number): Set<number> {
  const inodes = new Set<number>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match?.[1]) inodes.add(Number(match[1]));
    } catch {
      // closed meanwhile
    }
  }
  return inodes;
}

/** The TCP sockets a process listens on, from the OS tables (not from what it says). */
export function listeningSocketsOf(pid: number): TcpSocket[] {
  const mine = socketInodes(pid);
  return tcpSockets().filter((s) => s.state === '0A' && mine.has(s.inode));
}

/** Every regular file under `dir`, recursively (sockets, fifos and devices skipped). */
export function filesUnder(dir: string): string[] {
  const files: string[] = [];
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return files;
  }
  for (const name of entries) {
    const path = join(dir, name);
    let st;
    try {
      st = statSync(path);
    } catch {
      continue;
    }
    if (st.isDirectory()) files.push(...filesUnder(path));
    else if (st.isFile()) files.push(path);
  }
  return files;
}

export function modeOf(path: string): string {
  return (statSync(path).mode & 0o777).toString(8).padStart(3, '0');
}

// ---------------------------------------------------------------------------------------------
// Scenarios shared by the always-run and the stress suites

/**
 * L1: `n` workspaces spawned at once from `n` separate `exai spawn` processes. Checks n
 * distinct ports, n daemons answering an authenticated ping with their own id, n registry
 * entries agreeing with the spawns, n online pm2 apps, and one pm2 daemon.
 */
export async function spawnManyAtOnce(ctx: Recorder, t: TestEnv, n: number): Promise<SpawnJson[]> {
  const dirs = Array.from({ length: n }, (_, i) => t.workspace(`load${n}-${i}`));
  const started = Date.now();
  const results = await Promise.all(
    dirs.map(async (dir) => {
      const res = await runCli(['spawn', '--workspace', dir, '--json'], t.env, { timeoutMs: 180_000 });
      expect(res.code, `spawn ${dir}: ${res.stderr}`).toBe(0);
      return JSON.parse(res.stdout) as SpawnJson;
    }),
  );
  const wallMs = Date.now() - started;
  const ports = results.map((r) => r.port);
  expect(new Set(ports).size).toBe(n);
  expect(new Set(results.map((r) => r.pid)).size).toBe(n);
  for (const r of results) {
    const probe = await probeDaemon({ port: r.port, id: r.id, token: tokenOf(t, r.id), timeoutMs: 10_000 });
    expect(probe.state, `${r.workspace}: ${'reason' in probe ? probe.reason : ''}`).toBe('healthy');
  }
  const entries = Object.values(new Registry(t.home).read().workspaces).filter((e) => results.some((r) => r.id === e.id));
  expect(entries).toHaveLength(n);
  for (const r of results) expect(entries.find((e) => e.id === r.id)?.port).toBe(r.port);
  const apps = (await pm2Apps(t.env)).filter((a) => results.some((r) => r.name === a.name));
  expect(apps.filter((a) => a.pm2_env.status === 'online')).toHaveLength(n);
  const gods = countPm2Daemons(t.pm2Home);
  expect(gods).toBe(1);
  const sorted = [...ports].sort((a, b) => a - b);
  note(
    ctx,
    `${n} concurrent \`exai spawn\` processes: ${n} distinct ports (${sorted[0]}..${sorted[n - 1]}), ${n} daemons healthy ` +
      `(authenticated MCP ping, own id), ${entries.length} registry entries matching, ${apps.length} pm2 apps online, ` +
      `${gods} pm2 daemon; all done in ${(wallMs / 1000).toFixed(1)} s`,
  );
  return results;
}

interface Sent {
  kind: 'ping' | 'status' | 'echo' | 'list';
  probe?: string;
}

/**
 * L2: `sessions` raw MCP sessions on one daemon, each pipelining `calls` requests that reuse
 * the same ids 1..calls in every session (a daemon that mixed sessions up would deliver a
 * reply to the wrong socket). Each reply is checked against its own request: a ping answers
 * `{}`, exai_status answers the daemon's status, tools/list the tool list, and an unknown
 * tool named `probe-<session>-<call>` is answered with an error that names exactly that probe.
 */
export async function sessionsLoad(
  ctx: Recorder,
  daemon: { port: number; token: string; id: string; pid: number },
  sessions: number,
  calls: number,
): Promise<void> {
  const started = Date.now();
  const raws = await Promise.all(Array.from({ length: sessions }, () => RawSession.open(daemon.port, daemon.token)));
  try {
    await Promise.all(raws.map((s) => s.initialize()));
    const plans = raws.map((s, i) => {
      const sent = new Map<number, Sent>();
      for (let k = 1; k <= calls; k++) {
        const kind = (['ping', 'status', 'echo', 'list'] as const)[k % 4]!;
        if (kind === 'ping') {
          s.send({ jsonrpc: '2.0', id: k, method: 'ping' });
          sent.set(k, { kind });
        } else if (kind === 'status') {
          s.send({ jsonrpc: '2.0', id: k, method: 'tools/call', params: { name: 'exai_status', arguments: {} } });
          sent.set(k, { kind });
        } else if (kind === 'list') {
          s.send({ jsonrpc: '2.0', id: k, method: 'tools/list' });
          sent.set(k, { kind });
        } else {
          const probe = `probe-${i}-${k}`;
          s.send({ jsonrpc: '2.0', id: k, method: 'tools/call', params: { name: probe, arguments: { session: i, call: k } } });
          sent.set(k, { kind, probe });
        }
      }
      return sent;
    });
    // Wait for every reply; a flush ping afterwards lets any late stray frame arrive first.
    await Promise.all(raws.map((s) => s.waitFor(() => s.frames.filter((f) => typeof (f as { id?: unknown }).id === 'number').length >= calls)));
    await Promise.all(raws.map((s) => s.request('flush', 'ping')));
    let checked = 0;
    raws.forEach((s, i) => {
      const plan = plans[i]!;
      const replies = s.frames.filter((f) => typeof (f as { id?: unknown }).id === 'number') as {
        id: number;
        result?: Record<string, unknown>;
        error?: { code: number; message: string };
      }[];
      expect(replies, `session ${i}: one reply per request`).toHaveLength(calls);
      expect(new Set(replies.map((r) => r.id)).size, `session ${i}: no duplicate replies`).toBe(calls);
      // Every frame this session got is a reply to something it sent (no notification noise, no strays).
      expect(s.frames.length, `session ${i}: no stray frames`).toBe(calls + 2);
      for (const reply of replies) {
        const req = plan.get(reply.id);
        expect(req, `session ${i}: reply to id ${reply.id} it never sent`).toBeDefined();
        switch (req!.kind) {
          case 'ping':
            expect(reply.result).toEqual({});
            break;
          case 'status':
            expect((reply.result?.structuredContent as { id?: string; pid?: number } | undefined)?.id).toBe(daemon.id);
            break;
          case 'list':
            expect(Array.isArray(reply.result?.tools)).toBe(true);
            break;
          case 'echo': {
            // An unknown tool: a JSON-RPC error or an isError result, either way naming this very probe.
            const text = reply.error?.message ?? JSON.stringify(reply.result?.content ?? '');
            expect(text).toContain(`"${req!.probe}"`);
            expect(reply.result?.isError ?? reply.error !== undefined).toBe(true);
            break;
          }
        }
        checked++;
      }
    });
    const health = await getHealth(daemon.port);
    expect(health.pid, 'the daemon did not restart under load').toBe(daemon.pid);
    note(
      ctx,
      `${sessions} concurrent sessions x ${calls} pipelined calls (ids reused across sessions; ping / exai_status / tools/list / ` +
        `echo-by-error mix): ${checked} replies, each matched to its own request, 0 lost, 0 duplicated, 0 strays; ` +
        `daemon pid unchanged; ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  } finally {
    await Promise.all(raws.map((s) => s.close().catch(() => undefined)));
  }
}

/** The garbage a confused or hostile client might send, one JSON-RPC-level sample per kind. */
export function malformedFrame(k: number): { data: string | Buffer; binary?: boolean; what: string } {
  switch (k % 12) {
    case 0:
      return { data: '{not json', what: 'not JSON' };
    case 1:
      return { data: '', what: 'empty frame' };
    case 2:
      return { data: 'null', what: 'JSON null' };
    case 3:
      return { data: '[]', what: 'empty batch' };
    case 4:
      return { data: JSON.stringify([{ jsonrpc: '2.0', id: k, method: 'ping' }]), what: 'batch' };
    case 5:
      return { data: JSON.stringify({ jsonrpc: '1.0', id: k, method: 'ping' }), what: 'wrong jsonrpc version' };
    case 6:
      return { data: JSON.stringify({ jsonrpc: '2.0', id: { nested: k }, method: 'ping' }), what: 'object id' };
    case 7:
      return { data: Buffer.from([0xde, 0xad, 0xbe, 0xef, k & 0xff]), binary: true, what: 'binary frame' };
    case 8:
      return { data: '"' + 'x'.repeat(64 * 1024) + '"', what: '64 KB JSON string' };
    case 9:
      return { data: '['.repeat(5_000) + ']'.repeat(5_000), what: '5,000-deep array' };
    case 10:
      return { data: JSON.stringify({ jsonrpc: '2.0', id: k, method: 42 }), what: 'numeric method' };
    default:
      return { data: '\u0000\u0001\u0002 {"jsonrpc":"2.0"}', what: 'control characters' };
  }
}

/**
 * Sends `frames` malformed messages on one authenticated session and checks that every one
 * is answered with a well-formed JSON-RPC error and that the session still works afterwards.
 */
export async function malformedFlood(session: RawSession, frames: number): Promise<{ errors: number }> {
  const before = session.frames.length;
  for (let k = 0; k < frames; k++) {
    const f = malformedFrame(k);
    session.send(f.data, { binary: f.binary ?? false });
  }
  await session.waitFor(() => session.frames.length - before >= frames);
  const replies = session.frames.slice(before) as { jsonrpc?: string; id?: unknown; error?: { code?: number; message?: string } }[];
  for (const r of replies) {
    expect(r.jsonrpc).toBe('2.0');
    expect(typeof r.error?.code).toBe('number');
    expect(typeof r.error?.message).toBe('string');
  }
  await session.request(`after-flood-${frames}`, 'ping');
  return { errors: replies.length };
}

// ---------------------------------------------------------------------------------------------
// Raw sockets (slowloris, protocol-level malformed frames)

export function rawConnect(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Resolves when the server closes the socket (end or close), with everything it sent. */
export function serverClosed(socket: Socket): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', () => undefined);
    const done = () => resolve(Buffer.concat(chunks));
    socket.once('end', done);
    socket.once('close', done);
  });
}

/** A complete, authenticated WebSocket handshake over a raw socket; resolves once 101 arrived. */
export async function rawUpgrade(port: number, token: string): Promise<{ socket: Socket; closed: Promise<Buffer> }> {
  const socket = await rawConnect(port);
  const closed = serverClosed(socket);
  await new Promise<void>((resolve, reject) => {
    let head = '';
    const onData = (d: Buffer) => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      if (!head.startsWith('HTTP/1.1 101')) reject(new Error(`handshake refused: ${head.split('\r\n')[0]}`));
      else resolve();
    };
    socket.on('data', onData);
    socket.write(
      `GET /mcp HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
        `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: mcp\r\n` +
        `Authorization: Bearer ${token}\r\n\r\n`,
    );
  });
  return { socket, closed };
}

/** A client->server WebSocket frame, with every field open to abuse. */
export function wsFrame(opts: {
  opcode: number;
  payload?: Buffer;
  fin?: boolean;
  rsv?: number;
  masked?: boolean;
  /** Claim this length in the header instead of the payload's (64-bit form). */
  claimLength?: bigint;
}): Buffer {
  const payload = opts.payload ?? Buffer.alloc(0);
  const masked = opts.masked ?? true;
  const b0 = ((opts.fin ?? true) ? 0x80 : 0) | ((opts.rsv ?? 0) << 4) | (opts.opcode & 0x0f);
  let header: Buffer;
  if (opts.claimLength !== undefined) {
    header = Buffer.alloc(10);
    header[1] = (masked ? 0x80 : 0) | 127;
    header.writeBigUInt64BE(opts.claimLength, 2);
  } else if (payload.length < 126) {
    header = Buffer.alloc(2);
    header[1] = (masked ? 0x80 : 0) | payload.length;
  } else if (payload.length < 65536) {
    header = Buffer.alloc(4);
    header[1] = (masked ? 0x80 : 0) | 126;
    header.writeUInt16BE(payload.length, 2);
  } else {
    header = Buffer.alloc(10);
    header[1] = (masked ? 0x80 : 0) | 127;
    header.writeBigUInt64BE(BigInt(payload.length), 2);
  }
  header[0] = b0;
  if (!masked) return Buffer.concat([header, payload]);
  const key = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] = body[i]! ^ key[i % 4]!;
  return Buffer.concat([header, key, body]);
}

/** The close code in a server's close frame (first frame with opcode 8), if any. */
export function closeCode(received: Buffer): number | undefined {
  // Skip the HTTP 101 answer that precedes the frames on a raw upgraded socket.
  const headEnd = received.subarray(0, 5).toString('latin1') === 'HTTP/' ? received.indexOf('\r\n\r\n') : -1;
  let offset = headEnd >= 0 ? headEnd + 4 : 0;
  while (offset + 2 <= received.length) {
    const opcode = received[offset]! & 0x0f;
    let len = received[offset + 1]! & 0x7f;
    let start = offset + 2;
    if (len === 126) {
      len = received.readUInt16BE(offset + 2);
      start += 2;
    } else if (len === 127) {
      len = Number(received.readBigUInt64BE(offset + 2));
      start += 8;
    }
    if (opcode === 8) return len >= 2 ? received.readUInt16BE(start) : 1005;
    offset = start + len;
  }
  return undefined;
}

/** Protocol-level abuse: each variant must make the daemon drop that one connection. */
export const PROTOCOL_ABUSE: { what: string; bytes: () => Buffer; expect: number[] }[] = [
  { what: 'unmasked client frame', bytes: () => wsFrame({ opcode: 1, payload: Buffer.from('{}'), masked: false }), expect: [1002] },
  { what: 'reserved opcode 0x3', bytes: () => wsFrame({ opcode: 3, payload: Buffer.from('x') }), expect: [1002] },
  { what: 'RSV1 set without an extension', bytes: () => wsFrame({ opcode: 1, payload: Buffer.from('{}'), rsv: 4 }), expect: [1002] },
  { what: 'fragmented ping (control frame without FIN)', bytes: () => wsFrame({ opcode: 9, payload: Buffer.from('x'), fin: false }), expect: [1002] },
  { what: 'control frame over 125 bytes', bytes: () => wsFrame({ opcode: 9, payload: Buffer.alloc(200, 1) }), expect: [1002] },
  { what: 'continuation frame with nothing to continue', bytes: () => wsFrame({ opcode: 0, payload: Buffer.from('x') }), expect: [1002] },
  { what: 'invalid UTF-8 in a text frame', bytes: () => wsFrame({ opcode: 1, payload: Buffer.from([0xc3, 0x28, 0xff]) }), expect: [1007] },
  { what: 'header claiming a 2^62-byte payload', bytes: () => wsFrame({ opcode: 1, claimLength: 2n ** 62n }), expect: [1009] },
  { what: 'header claiming 2^63 (not a valid length)', bytes: () => wsFrame({ opcode: 1, claimLength: 2n ** 63n }), expect: [1009, 1002] },
];
