import type { Platform } from '../../transport/process-tree.js';

/**
 * What an upstream gets of the daemon's environment without asking. The daemon's environment
 * is the launch environment exai stored for the workspace (PATH, HOME, the variables passed
 * with --pass-env); of it, upstreams get only the variables programs need to run as in the
 * user's shell. Everything else must be named in servers.json (`${env:NAME}` works there), so
 * nothing of the daemon's own environment leaks by accident.
 *
 * POSIX: the MCP SDK's default set (its `getDefaultEnvironment`) plus locale, time zone, temp
 * and XDG folders. Windows: the SDK's set plus the variables Windows programs look up to find
 * themselves and each other (%ProgramFiles%, %windir%, PowerShell's module path, …), which the
 * SDK's set lacks (docs/WINDOWS.md #16).
 */
const POSIX_BASE = ['HOME', 'LOGNAME', 'PATH', 'SHELL', 'TERM', 'USER'];
const WINDOWS_BASE = [
  'APPDATA', 'HOMEDRIVE', 'HOMEPATH', 'LOCALAPPDATA', 'PATH', 'PATHEXT', 'PROCESSOR_ARCHITECTURE', 'SYSTEMDRIVE',
  'SYSTEMROOT', 'COMSPEC', 'TEMP', 'TMP', 'USERNAME', 'USERPROFILE', 'USERDOMAIN', 'COMPUTERNAME', 'PROGRAMFILES',
  'PROGRAMFILES(X86)', 'PROGRAMW6432', 'PROGRAMDATA', 'COMMONPROGRAMFILES', 'COMMONPROGRAMFILES(X86)',
  'COMMONPROGRAMW6432', 'ALLUSERSPROFILE', 'PUBLIC', 'WINDIR', 'NUMBER_OF_PROCESSORS', 'OS', 'PSMODULEPATH',
];
const SHARED = /^(LANG|LANGUAGE|LC_[A-Z]+|TZ|TMPDIR|TMP|TEMP|XDG_[A-Z_]+|NODE_EXTRA_CA_CERTS)$/;

function inherited(name: string, platform: Platform): boolean {
  if (platform === 'win32') {
    const upper = name.toUpperCase();
    return WINDOWS_BASE.includes(upper) || SHARED.test(upper);
  }
  return POSIX_BASE.includes(name) || SHARED.test(name);
}

/**
 * The environment of one upstream: the inherited part of `base` (the daemon's process.env),
 * then the server's own `env` from servers.json on top. On Windows names are one variable
 * whatever their case, so an entry's `Path` replaces the inherited `PATH` instead of sitting
 * beside it (where Node would keep only one of the two, and not necessarily the entry's).
 */
export function upstreamEnv(
  own: Readonly<Record<string, string>>,
  base: NodeJS.ProcessEnv = process.env,
  platform: Platform = process.platform,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(base)) {
    // Exported bash functions ("() { …") are shell internals, and a security hazard (the SDK skips them too).
    if (value === undefined || value.startsWith('()') || !inherited(key, platform)) continue;
    env[key] = value;
  }
  for (const [key, value] of Object.entries(own)) {
    if (platform === 'win32') {
      const upper = key.toUpperCase();
      for (const existing of Object.keys(env)) if (existing.toUpperCase() === upper) delete env[existing];
    }
    env[key] = value;
  }
  return env;
}
