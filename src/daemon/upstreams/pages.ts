/**
 * The merged catalog, served to sessions in pages (MCP "Pagination"): tools/list, prompts/list,
 * resources/list and resources/templates/list answer at most LIST_PAGE_SIZE items and a
 * `nextCursor` while more follow. A cursor is opaque to the client; inside, it names the
 * position and the key (exposed name or URI) of the last item served, so that a list that
 * changed between two pages goes on after that item when it is still there (nothing skipped
 * or repeated), else at the same position.
 */
import { INVALID_PARAMS, WireRequestError } from '../../transport/jsonrpc.js';

/**
 * Items per page. Large, because many clients read only the first page: a workspace's usual
 * catalog (up to a thousand items) arrives whole, as it did before paging; only a larger one is
 * split.
 */
export const LIST_PAGE_SIZE = 1_000;

interface CursorData {
  /** Index of the first item of the next page. */
  i: number;
  /** Key of the last item served. */
  k: string;
}

/** One page of `items` from `cursor` (undefined: the first page). A cursor exai never gave is -32602. */
export function page<T>(items: readonly T[], keyOf: (item: T) => string, cursor: string | undefined, size = LIST_PAGE_SIZE): { items: T[]; nextCursor?: string } {
  let start = 0;
  if (cursor !== undefined) {
    const data = decode(cursor);
    const after = items.findIndex((item) => keyOf(item) === data.k);
    start = after >= 0 ? after + 1 : Math.min(data.i, items.length);
  }
  const end = Math.min(items.length, start + size);
  const slice = items.slice(start, end);
  if (end >= items.length || slice.length === 0) return { items: slice };
  const next: CursorData = { i: end, k: keyOf(slice[slice.length - 1]!) };
  return { items: slice, nextCursor: Buffer.from(JSON.stringify(next)).toString('base64url') };
}

function decode(cursor: string): CursorData {
  try {
    const data = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as Partial<CursorData> | null;
    if (data && Number.isSafeInteger(data.i) && data.i! >= 0 && typeof data.k === 'string') return data as CursorData;
  } catch {
    // falls through to the error below
  }
  throw new WireRequestError(INVALID_PARAMS, `invalid cursor ${JSON.stringify(cursor.slice(0, 100))}: pass a nextCursor exai gave, or none for the first page`);
}
