/**
 * Newline-delimited JSON-RPC framing for the stdio side of the shim.
 *
 * The bytes of every message are handed on exactly as they arrived (minus the line ending):
 * the shim is a relay, and re-serialising would change number formatting, key order and
 * escapes that the other side might rely on. Parsing happens on a copy, only to learn the
 * message's kind, id and method.
 */

const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const TAB = 0x09;

export type JsonRpcId = string | number;

export interface MessageInfo {
  kind: 'request' | 'notification' | 'response' | 'invalid';
  id?: JsonRpcId;
  method?: string;
  /** The parsed copy; absent when the bytes are not a JSON object. */
  value?: Record<string, unknown>;
}

export interface LineSplitterOptions {
  /** Lines longer than this are not collected; `onOversize` gets their first bytes instead. */
  maxLineBytes?: number;
  /** `head` and `tail` are the first and last few KB of the line: enough to find its id. */
  onOversize?: (head: Buffer, tail: Buffer, totalBytes: number) => void;
}

const OVERSIZE_KEEP_BYTES = 4096;

/**
 * Splits a byte stream into lines. Chunk boundaries may fall anywhere (inside a multi-byte
 * character, between CR and LF); a long line is kept as a list of chunks and concatenated
 * once, so a 5 MB message costs one copy, not one per chunk.
 */
export class LineSplitter {
  private parts: Buffer[] = [];
  private partsLength = 0;
  /** Set while skipping the rest of an oversized line: the bytes seen so far. */
  private discarding: { head: Buffer; tail: Buffer; total: number } | undefined;
  private readonly maxLineBytes: number;

  constructor(
    private readonly onLine: (line: Buffer) => void,
    private readonly options: LineSplitterOptions = {},
  ) {
    this.maxLineBytes = options.maxLineBytes ?? Number.POSITIVE_INFINITY;
  }

  push(chunk: Buffer): void {
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(LF, start);
      const end = nl === -1 ? chunk.length : nl;
      this.collect(chunk.subarray(start, end));
      if (nl === -1) return;
      this.finishLine();
      start = nl + 1;
    }
  }

  /** The stream ended: a last line without a newline still counts. */
  end(): void {
    if (this.partsLength > 0 || this.discarding) this.finishLine();
  }

  private collect(piece: Buffer): void {
    if (piece.length === 0) return;
    if (this.discarding) {
      this.discarding.total += piece.length;
      this.discarding.tail = keepTail(this.discarding.tail, piece);
      return;
    }
    if (this.partsLength + piece.length > this.maxLineBytes) {
      const parts = [...this.parts, piece];
      let head: Buffer = Buffer.alloc(0);
      let tail: Buffer = Buffer.alloc(0);
      for (const part of parts) {
        if (head.length < OVERSIZE_KEEP_BYTES) head = Buffer.concat([head, part.subarray(0, OVERSIZE_KEEP_BYTES - head.length)]);
        tail = keepTail(tail, part);
      }
      this.discarding = { head, tail, total: this.partsLength + piece.length };
      this.parts = [];
      this.partsLength = 0;
      return;
    }
    this.parts.push(piece);
    this.partsLength += piece.length;
  }

  private finishLine(): void {
    if (this.discarding) {
      const { head, tail, total } = this.discarding;
      this.discarding = undefined;
      this.options.onOversize?.(head, tail, total);
      return;
    }
    const parts = this.parts;
    const length = this.partsLength;
    this.parts = [];
    this.partsLength = 0;
    if (length === 0) return;
    let line = parts.length === 1 ? parts[0]! : Buffer.concat(parts, length);
    if (line[line.length - 1] === CR) line = line.subarray(0, line.length - 1);
    if (isBlank(line)) return;
    this.onLine(line);
  }
}

/** The last few KB of `tail + piece`, copied so the chunks can be freed. */
function keepTail(tail: Buffer, piece: Buffer): Buffer {
  if (piece.length >= OVERSIZE_KEEP_BYTES) return Buffer.from(piece.subarray(piece.length - OVERSIZE_KEEP_BYTES));
  const joined = Buffer.concat([tail, piece]);
  return joined.subarray(Math.max(0, joined.length - OVERSIZE_KEEP_BYTES));
}

function isBlank(line: Buffer): boolean {
  for (const byte of line) {
    if (byte !== SPACE && byte !== TAB && byte !== CR) return false;
  }
  return true;
}

function isId(value: unknown): value is JsonRpcId {
  return typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value));
}

/** Classifies one JSON-RPC message from its bytes (a parsed copy; the bytes are untouched). */
export function inspectMessage(bytes: Buffer): MessageInfo {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    return { kind: 'invalid' };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return { kind: 'invalid' };
  const record = value as Record<string, unknown>;
  const id = isId(record.id) ? record.id : undefined;
  if (typeof record.method === 'string') {
    return id === undefined
      ? { kind: 'notification', method: record.method, value: record }
      : { kind: 'request', id, method: record.method, value: record };
  }
  if (id !== undefined && ('result' in record || 'error' in record)) return { kind: 'response', id, value: record };
  return { kind: 'invalid', id, value: record };
}

const ID_PATTERN = String.raw`(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|"(?:[^"\\]|\\.)*")`;
/** The id as the last member of the top-level object (how the SDK serialises requests). */
const TAIL_ID = new RegExp(String.raw`"id"\s*:\s*${ID_PATTERN}\s*\}\s*$`);
/** The id early in the object, after nothing but "jsonrpc"/"method" members. */
const HEAD_ID = new RegExp(String.raw`^\s*\{(?:\s*"(?:jsonrpc|method)"\s*:\s*"(?:[^"\\]|\\.)*"\s*,)*\s*"id"\s*:\s*${ID_PATTERN}`);

/**
 * Best effort: the id of a message too large to parse, read from its first and last bytes.
 * A wrong guess is worse than none, so only a top-level position is accepted.
 */
export function sniffId(head: Buffer, tail: Buffer): JsonRpcId | undefined {
  const match = TAIL_ID.exec(tail.toString('utf8')) ?? HEAD_ID.exec(head.toString('utf8'));
  if (!match?.[1]) return undefined;
  try {
    const id: unknown = JSON.parse(match[1]);
    return isId(id) ? id : undefined;
  } catch {
    return undefined;
  }
}

/** Map key for an id: 1 and "1" are different requests. */
export function idKey(id: JsonRpcId): string {
  return typeof id === 'number' ? `n:${id}` : `s:${id}`;
}

/** A JSON-RPC error response, serialised (without the newline). */
export function errorResponse(id: JsonRpcId | null, code: number, message: string): Buffer {
  return Buffer.from(JSON.stringify({ jsonrpc: '2.0', id, error: { code, message } }));
}
