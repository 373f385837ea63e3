import { createHash } from 'node:crypto';

/** Separates the upstream's name from the tool/prompt name: `<server>__<name>`. */
export const NAME_SEPARATOR = '__';

/**
 * The longest name exai exposes for an upstream's tool or prompt. Model APIs accept tool names
 * of at most 64 characters (Anthropic's and OpenAI's tool name limit), and Claude Code sends
 * `mcp__<server>__<tool>`, here `mcp__exai__<name>`: 11 characters go to that prefix.
 */
export const MAX_EXPOSED_NAME = 64 - 'mcp__exai__'.length;

const HASH_CHARS = 8;

/** What every client accepts in a tool name (Cursor refuses anything else; Claude Desktop rejects a whole list for one). */
const SAFE_NAME = /^[A-Za-z0-9_-]+$/;

/**
 * The name a session sees for `name` of upstream `server`: `<server>__<name>` when that is at
 * most MAX_EXPOSED_NAME (53) characters of [A-Za-z0-9_-]. Otherwise every other character
 * becomes `_`, and the result is cut to its first 44 characters, `_`, and the first 8 hex
 * digits of the SHA-256 of the full original name (`fs__calendar.read` ->
 * `fs__calendar_read_<hash>`): the hash keeps `calendar.read` and `calendar_read` apart. The
 * mapped form is the same every time (it depends on the full name only), so a client may
 * remember it; calls with it still route (the directory maps it back).
 */
export function exposedName(server: string, name: string): string {
  const full = `${server}${NAME_SEPARATOR}${name}`;
  if (full.length <= MAX_EXPOSED_NAME && SAFE_NAME.test(full)) return full;
  const hash = createHash('sha256').update(full).digest('hex').slice(0, HASH_CHARS);
  const safe = full.replace(/[^A-Za-z0-9_-]/g, '_');
  return `${safe.slice(0, MAX_EXPOSED_NAME - HASH_CHARS - 1)}_${hash}`;
}

/** The upstream a `<server>__…` name points at, by its prefix (also for names of upstreams that are down). */
export function serverOf(exposed: string): string | undefined {
  const at = exposed.indexOf(NAME_SEPARATOR);
  return at > 0 ? exposed.slice(0, at) : undefined;
}
