/**
 * `.exai/daemon.json` checked at the edge (issue 25): what a user gets wrong is one line naming
 * the field and the fix; placeholders expand where they may and are refused where a value would
 * land in a client config.
 */
import { describe, expect, it } from 'vitest';
import { daemonEnvNames, daemonLaunch, expand, parseDaemonFile } from '../src/workspace/daemon-file.js';

const WS = '/work/ws';
const parse = (value: unknown) => parseDaemonFile(typeof value === 'string' ? value : JSON.stringify(value), WS, `${WS}/.exai/daemon.json`);
const problem = (value: unknown) => {
  try {
    parse(value);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('accepted');
};

describe('daemon.json', () => {
  it('accepts JSONC, defaults cwd to the workspace and readiness to a 30s TCP connect', () => {
    const spec = parse('// mine\n{ "command": "python", "args": ["d.py",], "client": { "type": "http", "url": "http://127.0.0.1:${port}/mcp" } }');
    expect(spec).toMatchObject({ command: 'python', args: ['d.py'], cwd: '${workspaceFolder}', ready: { kind: 'tcp', timeoutMs: 30_000 } });
    expect(parse({ command: 'x', ready: { log: 'up', timeout: '90s' }, client: { command: 's' } }).ready).toEqual({ kind: 'log', text: 'up', timeoutMs: 90_000 });
  });

  it('says which field is wrong, in one line', () => {
    expect(problem({ command: 'x', client: { command: 's' }, extra: 1 })).toMatch(/^\/work\/ws\/\.exai\/daemon\.json: extra: unknown field .*; fix the file and run exai spawn again$/);
    expect(problem({ command: '', client: { command: 's' } })).toContain('command: expected a non-empty string');
    expect(problem({ command: 'x', ready: { http: 'health' }, client: { command: 's' } })).toContain('ready.http: expected a path starting with /');
    expect(problem({ command: 'x', ready: { tcp: true, timeout: 'soon' }, client: { command: 's' } })).toContain('ready.timeout');
    expect(problem({ command: 'x', client: { type: 'http', url: 'ws://x' } })).toContain('client.url');
    expect(problem('{ "command": ')).toContain('not valid JSON');
  });

  it('refuses ${token} and ${env:NAME} in the client entry, unknown placeholders, and files outside ${stateDir}', () => {
    expect(problem({ command: 'x', client: { command: 's', args: ['${token}'] } })).toContain('client.args[0]: ${token} is refused in the client entry');
    expect(problem({ command: 'x', client: { command: 's', env: { K: '${env:KEY}' } } })).toContain('client.env.K: ${env:KEY} is refused');
    expect(problem({ command: 'x', args: ['${token}'], client: { command: 's' } })).toContain('args[0]: ${token} is allowed only in "env" and "files"');
    expect(problem({ command: 'x', env: { A: '${home}' }, client: { command: 's' } })).toContain('unknown placeholder ${home}');
    expect(problem({ command: 'x', files: { '/etc/x': 'y' }, client: { command: 's' } })).toContain('must start with ${stateDir}/');
    for (const key of ['${stateDir}/../escape', '${stateDir}/a/../../../registry.json', '${stateDir}x', '${stateDir}/', '${stateDir}/${env:SUB}/f', '${stateDir}/..\\x']) {
      expect(problem({ command: 'x', files: { [key]: 'y' }, client: { command: 's' } })).toContain('stay inside it');
    }
    expect(() => parse({ command: 'x', files: { '${stateDir}/sub/${port}.env': 'y', '${stateDir}/a..b': 'y' }, client: { command: 's' } })).not.toThrow();
  });

  it('expands every placeholder into the launch, records ${env:NAME} names, and refuses a name with no value', () => {
    const spec = parse({
      command: 'python',
      args: ['-u', '${workspaceFolder}/d.py', '--port', '${port}'],
      cwd: 'sub',
      env: { EXAI_WS_PORT: '${port}', KEY: '${env:API_KEY}', TOKEN: '${token}' },
      files: { '${stateDir}/instance.env': 'PORT=${port}\nTOKEN=${token}\n' },
      client: { command: 'python', args: ['${workspaceFolder}/shim.py'], env: { ENV_FILE: '${stateDir}/instance.env' } },
    });
    expect(daemonEnvNames(spec)).toEqual(['API_KEY']);
    const x = { port: 8179, workspace: WS, stateDir: '/home/x/state/ab12', token: 't0k', env: { API_KEY: 'k' } };
    expect(daemonLaunch(spec, x, { PATH: '/bin' })).toEqual({
      version: 1,
      command: 'python',
      args: ['-u', `${WS}/d.py`, '--port', '8179'],
      cwd: `${WS}/sub`,
      stateDir: '/home/x/state/ab12',
      env: { PATH: '/bin', EXAI_WS_PORT: '8179', KEY: 'k', TOKEN: 't0k' },
      files: { '/home/x/state/ab12/instance.env': 'PORT=8179\nTOKEN=t0k\n' },
      idleTimeoutMs: 0,
      leasesDir: '',
    });
    expect(() => daemonLaunch(spec, { ...x, env: {} }, {})).toThrow(/API_KEY is used by \.exai\/daemon\.json .* run exai spawn again/);
    expect(expand('${workspaceFolder}/shim.py', { ...x, keepWorkspaceFolder: true })).toBe('${workspaceFolder}/shim.py');
  });
});
