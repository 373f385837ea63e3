/** One client's result, as the suite's closing table shows it. */
export interface Row {
  client: string;
  version: string;
  /** 'yes', or why not. */
  connected: string;
  /** The MCP revision(s) the client's sessions asked exai for, e.g. '2025-06-18'. */
  protocol: string;
  /** exai's tools the client listed, e.g. '23 (exai_status, everything__echo)'; '—' where it cannot list. */
  tools: string;
  /** The call's outcome, e.g. 'exai_status: port 10231 ✓'; '—' where the client cannot call without a model. */
  call: string;
  seconds: string;
}

/** A Markdown table (it goes into README as printed). */
export function formatTable(rows: Row[]): string {
  const head: Row = { client: 'client', version: 'version', connected: 'connected', protocol: 'MCP revision', tools: 'tools', call: 'call', seconds: 'seconds' };
  const cols = Object.keys(head) as (keyof Row)[];
  const line = (r: Row) => `| ${cols.map((c) => r[c]).join(' | ')} |`;
  return [line(head), `| ${cols.map(() => '---').join(' | ')} |`, ...rows.map(line)].join('\n');
}
