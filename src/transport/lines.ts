/**
 * Newline-delimited byte streams (MCP's stdio framing, MCP spec "Transports: stdio"), shared by
 * the shim's stdin and the daemon's upstream processes: a line splitter with a size cap, and a
 * best-effort id for a line too large to parse.
 */

const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const TAB = 0x09;

export type JsonRpcId = string | number;

export interface LineSplitterOptions {
  /** Lines longer than this (bytes) are not collected; `onOversize` gets their first and last bytes instead. */
  maxLineBytes?: number;
  /** `head` and `tail` are the first and last few KB of the line: enough to find its id. */
  onOversize?: (head: Buffer, tail: Buffer, totalBytes: number) => void;
}

const OVERSIZE_KEEP_BYTES = 4096;

/**
 * Splits a byte stream into lines. Chunk boundaries may fall anywhere (inside a multi-byte
 * character, between CR and LF); a long line is kept as a list of chunks and concatenated
 * once, so a 5 MB message costs one copy, not one per chunk. Blank lines are skipped and a
 * trailing CR is dropped.
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

  /** Bytes held for an unfinished line. */
  get pendingBytes(): number {
    return this.partsLength;
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

export function isId(value: unknown): value is JsonRpcId {
  return typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value));
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
