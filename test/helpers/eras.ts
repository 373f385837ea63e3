/** The SDK v2 fixture servers of the era tests (test/fixtures/era-server.mjs and friends). */
import { join } from 'node:path';
import { Client as ClientV2 } from '@modelcontextprotocol/client';
import { StdioClientTransport as StdioV2 } from '@modelcontextprotocol/client/stdio';
import type { ServerEntry } from '../upstreams-helpers.js';
import { ROOT } from './env.js';
import { strictEnv, writtenEntry } from './strict-client.js';

export const ERA_SERVER = join(ROOT, 'test', 'fixtures', 'era-server.mjs');
export const INTOLERANT_SERVER = join(ROOT, 'test', 'fixtures', 'probe-intolerant-server.mjs');
/** 2026-07-28 only: `serveStdio(factory, { legacy: 'reject' })`. */
export const modernEntry = (extra: Partial<ServerEntry> = {}): ServerEntry => ({ command: process.execPath, args: [ERA_SERVER, '--modern-only'], ...extra });
/** Both eras: `serveStdio(factory)`. */
export const dualEntry = (extra: Partial<ServerEntry> = {}): ServerEntry => ({ command: process.execPath, args: [ERA_SERVER], ...extra });

export type Mode = 'auto' | { pin: string };

/** An SDK v2 client launched exactly from the written entry, in a strict client's environment. */
export async function connectV2(
  workspace: string,
  home: string,
  mode: Mode,
  onElicit?: () => { action: 'accept' | 'decline'; content?: Record<string, string> },
  onSampling?: () => { model: string; role: 'assistant'; content: { type: 'text'; text: string } },
): Promise<{ client: ClientV2; close(): Promise<void>; stderr: () => string }> {
  const entry = writtenEntry(workspace);
  const transport = new StdioV2({ command: entry.command, args: entry.args, env: strictEnv(entry, home), stderr: 'pipe', cwd: ROOT });
  let stderr = '';
  transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const capabilities = { ...(onElicit ? { elicitation: { form: {} } } : {}), ...(onSampling ? { sampling: {} } : {}) };
  const client = new ClientV2({ name: 'v2-client', version: '0.0.0' }, { versionNegotiation: { mode }, capabilities });
  if (onElicit) client.setRequestHandler('elicitation/create', async () => onElicit());
  if (onSampling) client.setRequestHandler('sampling/createMessage', async () => onSampling());
  await client.connect(transport);
  return { client, close: () => client.close(), stderr: () => stderr };
}
