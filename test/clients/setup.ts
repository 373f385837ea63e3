import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { CLIENTS, ensureClient, type ClientName, type Installed } from '../../scripts/test-clients/install.mjs';
import { formatTable, type Row } from './table.js';

declare module 'vitest' {
  export interface ProvidedContext {
    clients: Record<string, Installed>;
    resultsFile: string;
  }
}

/**
 * Installs (or finds in the cache) every client before any test runs: a client that cannot be
 * installed reaches its test as a reason to skip. EXAI_CLIENTS=claude,codex limits the run.
 * At the end, prints the table of results.
 */
export default function setup(project: TestProject): () => void {
  const wanted = (process.env.EXAI_CLIENTS?.split(',').map((s) => s.trim()).filter(Boolean) ?? CLIENTS) as ClientName[];
  const clients: Record<string, Installed> = {};
  for (const client of wanted) clients[client] = ensureClient(client);
  const dir = mkdtempSync(join(tmpdir(), 'exai-clients-results-'));
  const resultsFile = join(dir, 'rows.jsonl');
  project.provide('clients', clients);
  project.provide('resultsFile', resultsFile);
  return () => {
    const rows = existsSync(resultsFile) ? readFileSync(resultsFile, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Row) : [];
    process.stdout.write(`\nReal clients driving exai:\n\n${formatTable(rows)}\n`);
    rmSync(dir, { recursive: true, force: true });
  };
}
