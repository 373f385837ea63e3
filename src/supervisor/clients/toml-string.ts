/**
 * `text` as a TOML basic string (a quoted key or value): `"` and `\` escaped, and so are the
 * control characters TOML forbids raw in one (U+0000–U+001F, U+007F). JSON.stringify is close
 * but leaves U+007F raw. Kept apart from toml.ts so printing a hint does not load toml-patch.
 */
export function tomlBasicString(text: string): string {
  const named: Record<string, string> = { '\b': '\\b', '\t': '\\t', '\n': '\\n', '\f': '\\f', '\r': '\\r', '"': '\\"', '\\': '\\\\' };
  const escaped = text.replace(/[\u0000-\u001f\u007f"\\]/g, (c) => named[c] ?? `\\u${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`);
  return `"${escaped}"`;
}
