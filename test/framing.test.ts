import { describe, expect, it } from 'vitest';
import { LineSplitter, idKey, inspectMessage, sniffId } from '../src/shim/framing.js';

function split(chunks: Buffer[], options?: ConstructorParameters<typeof LineSplitter>[1]): Buffer[] {
  const lines: Buffer[] = [];
  const splitter = new LineSplitter((line) => lines.push(Buffer.from(line)), options);
  for (const chunk of chunks) splitter.push(chunk);
  splitter.end();
  return lines;
}

const messages = [
  '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{}}}',
  '{"jsonrpc":"2.0","method":"notifications/initialized"}',
  '{"jsonrpc":"2.0","id":"ab\\"c","method":"tools/call","params":{"name":"x","arguments":{"text":"héllo wörld 🚀 — ü"}}}',
  '{"jsonrpc":"2.0","id":2,"result":{"n":1.50,"e":1e3}}',
];
// CRLF endings, a blank line and a whitespace-only line between messages, and a multi-byte tail.
const sample = Buffer.from(`${messages[0]}\r\n\n${messages[1]}\n   \r\n${messages[2]}\r\n${messages[3]}\n`);
const expected = messages.map((m) => Buffer.from(m));

describe('LineSplitter', () => {
  it('yields the same messages wherever the stream is cut (every byte boundary, two cuts)', () => {
    for (let i = 0; i <= sample.length; i++) {
      const lines = split([sample.subarray(0, i), sample.subarray(i)]);
      expect(lines, `cut at ${i}`).toEqual(expected);
    }
    for (let i = 0; i <= sample.length; i += 7) {
      for (let j = i; j <= sample.length; j += 5) {
        const lines = split([sample.subarray(0, i), sample.subarray(i, j), sample.subarray(j)]);
        expect(lines, `cuts at ${i},${j}`).toEqual(expected);
      }
    }
  });

  it('yields the same messages fed one byte at a time, and all at once', () => {
    const bytes = [...sample].map((b) => Buffer.from([b]));
    expect(split(bytes)).toEqual(expected);
    expect(split([sample])).toEqual(expected);
  });

  it('strips CRLF and LF line endings but keeps every other byte, including a last line without newline', () => {
    const lines = split([Buffer.from(' {"a":1}\t\r\n{"b":2}')]);
    expect(lines.map(String)).toEqual([' {"a":1}\t', '{"b":2}']);
  });

  it('round-trips a 5 MB message byte-identically across 64 KB chunks', () => {
    const big = Buffer.from(
      JSON.stringify({ jsonrpc: '2.0', id: 42, method: 'tools/call', params: { data: 'é🚀x'.repeat(800_000) } }),
    );
    expect(big.length).toBeGreaterThan(5_000_000);
    const stream = Buffer.concat([Buffer.from(messages[1]! + '\n'), big, Buffer.from('\r\n' + messages[3] + '\n')]);
    const chunks: Buffer[] = [];
    for (let i = 0; i < stream.length; i += 65_536) chunks.push(stream.subarray(i, i + 65_536));
    const lines = split(chunks);
    expect(lines).toHaveLength(3);
    expect(lines[1]!.equals(big)).toBe(true);
    expect(lines[2]!.equals(expected[3]!)).toBe(true);
  });

  it('refuses an oversized line with its id and keeps going with the next one', () => {
    const oversized: { id: unknown; total: number }[] = [];
    const huge = JSON.stringify({ method: 'tools/call', params: { data: 'x'.repeat(50_000) }, jsonrpc: '2.0', id: 'big-1' });
    const stream = Buffer.from(`${huge}\n${messages[1]}\n`);
    const chunks: Buffer[] = [];
    for (let i = 0; i < stream.length; i += 1000) chunks.push(stream.subarray(i, i + 1000));
    const lines = split(chunks, {
      maxLineBytes: 10_000,
      onOversize: (head, tail, total) => oversized.push({ id: sniffId(head, tail), total }),
    });
    expect(oversized).toEqual([{ id: 'big-1', total: Buffer.byteLength(huge) }]);
    expect(lines.map(String)).toEqual([messages[1]]);
  });
});

describe('message inspection', () => {
  it('tells requests, notifications, responses and garbage apart, and keeps ids 1 and "1" distinct', () => {
    expect(inspectMessage(Buffer.from(messages[0]!))).toMatchObject({ kind: 'request', id: 1, method: 'initialize' });
    expect(inspectMessage(Buffer.from(messages[1]!))).toMatchObject({ kind: 'notification', method: 'notifications/initialized' });
    expect(inspectMessage(Buffer.from(messages[2]!))).toMatchObject({ kind: 'request', id: 'ab"c' });
    expect(inspectMessage(Buffer.from(messages[3]!))).toMatchObject({ kind: 'response', id: 2 });
    expect(inspectMessage(Buffer.from('{"jsonrpc":"2.0","id":3,"error":{"code":1,"message":"m"}}'))).toMatchObject({ kind: 'response', id: 3 });
    expect(inspectMessage(Buffer.from('not json')).kind).toBe('invalid');
    expect(inspectMessage(Buffer.from('[{"jsonrpc":"2.0","id":1,"method":"x"}]')).kind).toBe('invalid');
    expect(idKey(1)).not.toBe(idKey('1'));
  });

  it('sniffs only top-level ids from the edges of a message', () => {
    const head = (s: string) => Buffer.from(s);
    expect(sniffId(head('{"jsonrpc":"2.0","id":7,"method":"x","params":{'), head('"}}'))).toBe(7);
    expect(sniffId(head('{"method":"x","params":{"id":5'), head('"a":{"id":5}}}'))).toBeUndefined();
    expect(sniffId(head('{"method":"x"'), head('"jsonrpc":"2.0","id":"q\\"1"}'))).toBe('q"1');
  });
});
