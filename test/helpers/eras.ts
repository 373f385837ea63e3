/** The SDK v2 fixture servers of the era tests (test/fixtures/era-server.mjs and friends). */
import { join } from 'node:path';
import type { ServerEntry } from '../upstreams-helpers.js';
import { ROOT } from './env.js';

export const ERA_SERVER = join(ROOT, 'test', 'fixtures', 'era-server.mjs');
export const INTOLERANT_SERVER = join(ROOT, 'test', 'fixtures', 'probe-intolerant-server.mjs');
/** 2026-07-28 only: `serveStdio(factory, { legacy: 'reject' })`. */
export const modernEntry = (extra: Partial<ServerEntry> = {}): ServerEntry => ({ command: process.execPath, args: [ERA_SERVER, '--modern-only'], ...extra });
/** Both eras: `serveStdio(factory)`. */
export const dualEntry = (extra: Partial<ServerEntry> = {}): ServerEntry => ({ command: process.execPath, args: [ERA_SERVER], ...extra });
