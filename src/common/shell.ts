/**
 * A path (or any argument) as one shell word, for commands users copy: bare when safe, else
 * quoted so the shell takes it literally — single quotes for POSIX shells (`$HOME`, backquotes
 * and `"` stay text; a `'` is closed, escaped and reopened), double quotes for Windows shells
 * (no Windows file name holds `"`). Every command exai prints goes through this
 * (`list`, `doctor`, errors that suggest a command, the daemon's and the shim's logs).
 */
export function shellArg(path: string, platform: NodeJS.Platform = process.platform): string {
  if (/^[\w@%+=:,./\\-]+$/.test(path)) return path;
  return platform === 'win32' ? `"${path}"` : `'${path.replace(/'/g, `'\\''`)}'`;
}
