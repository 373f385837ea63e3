import { createServer, type Server } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { choosePort, isPortFree, portCandidates, portSettings } from '../src/supervisor/ports.js';
import type { RegistryData } from '../src/supervisor/registry.js';
import { makeTestEnv, type TestEnv } from './helpers/env.js';

let t: TestEnv;
const listeners: Server[] = [];

beforeAll(() => {
  t = makeTestEnv();
});
afterEach(async () => {
  await Promise.all(listeners.splice(0).map((s) => new Promise((r) => s.close(r))));
});
afterAll(async () => {
  await t.cleanup();
});

/** A real foreign listener on 127.0.0.1:port, closed after the test. */
function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer((socket) => socket.destroy());
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      listeners.push(server);
      resolve(server);
    });
  });
}

function registry(ports: Record<string, number>): RegistryData {
  const workspaces: RegistryData['workspaces'] = {};
  const now = new Date().toISOString();
  for (const [id, port] of Object.entries(ports)) {
    workspaces[id] = { workspace: `/work/${id}`, id, name: `exai-${id}-${id}`, port, pinned: false, clients: [], createdAt: now, updatedAt: now };
  }
  return { version: 1, workspaces };
}

const settings = () => ({ base: t.portBase, stride: t.portStride });
const nth = (k: number) => t.portBase + k * t.portStride;

describe('port settings', () => {
  it('defaults to 8079 in steps of 100 and reads EXAI_PORT_BASE / EXAI_PORT_STRIDE', () => {
    expect(portSettings({})).toEqual({ base: 8079, stride: 100 });
    expect(portSettings({ EXAI_PORT_BASE: '', EXAI_PORT_STRIDE: ' ' })).toEqual({ base: 8079, stride: 100 });
    expect(portSettings({ EXAI_PORT_BASE: '30000', EXAI_PORT_STRIDE: '7' })).toEqual({ base: 30000, stride: 7 });
  });

  it.each([
    ['EXAI_PORT_BASE', 'abc'],
    ['EXAI_PORT_BASE', '0'],
    ['EXAI_PORT_BASE', '70000'],
    ['EXAI_PORT_BASE', '80.5'],
    ['EXAI_PORT_STRIDE', '0'],
    ['EXAI_PORT_STRIDE', '-5'],
  ])('refuses %s=%s with ENV_INVALID naming the variable', (name, value) => {
    expect(() => portSettings({ [name]: value })).toThrow(expect.objectContaining({ code: 'ENV_INVALID', message: expect.stringContaining(name) }));
  });

  it('lists candidates base + k*stride up to 65535', () => {
    expect(portCandidates({ base: 8079, stride: 100 }).slice(0, 3)).toEqual([8079, 8179, 8279]);
    expect(portCandidates({ base: 65000, stride: 200 })).toEqual([65000, 65200, 65400]);
    expect(portCandidates({ base: 65535, stride: 1 })).toEqual([65535]);
  });
});

describe('isPortFree', () => {
  it('sees a real listener on 127.0.0.1 and its release', async () => {
    const port = nth(40);
    expect(await isPortFree(port)).toBe(true);
    const server = await listen(port);
    expect(await isPortFree(port)).toBe(false);
    await new Promise((r) => server.close(r));
    expect(await isPortFree(port)).toBe(true);
  });
});

describe('choosePort', () => {
  it('gives the first workspace the base port', async () => {
    expect(await choosePort({ settings: settings(), data: registry({}), id: 'me' })).toBe(nth(0));
  });

  it('skips ports that the registry gives to other workspaces, but not our own', async () => {
    const data = registry({ other1: nth(0), other2: nth(1), me: nth(2) });
    expect(await choosePort({ settings: settings(), data, id: 'me' })).toBe(nth(2));
    expect(await choosePort({ settings: settings(), data, id: 'new' })).toBe(nth(3));
  });

  it('skips a port that a foreign process listens on', async () => {
    await listen(nth(0));
    expect(await choosePort({ settings: settings(), data: registry({}), id: 'me' })).toBe(nth(1));
  });

  it('honours the sticky (preferred) port when it is free and nobody else holds it', async () => {
    expect(await choosePort({ settings: settings(), data: registry({}), id: 'me', preferred: nth(7) })).toBe(nth(7));
  });

  it('moves off the preferred port when another workspace holds it or a foreign process listens on it', async () => {
    expect(await choosePort({ settings: settings(), data: registry({ other: nth(7) }), id: 'me', preferred: nth(7) })).toBe(nth(0));
    await listen(nth(8));
    expect(await choosePort({ settings: settings(), data: registry({}), id: 'me', preferred: nth(8) })).toBe(nth(0));
  });

  it('never hands out a port already tried', async () => {
    const exclude = new Set([nth(0), nth(5)]);
    expect(await choosePort({ settings: settings(), data: registry({}), id: 'me', preferred: nth(5), exclude })).toBe(nth(1));
  });

  it('fails with NO_FREE_PORT when every candidate is taken', async () => {
    // One candidate only (the next would be past 65535), held by a real listener.
    const only = { base: nth(20), stride: 65_535 };
    await listen(only.base);
    await expect(choosePort({ settings: only, data: registry({}), id: 'me' })).rejects.toMatchObject({ code: 'NO_FREE_PORT' });
    // Or held by other workspaces.
    const two = { base: 65_534, stride: 1 };
    await expect(choosePort({ settings: two, data: registry({ a: 65_534, b: 65_535 }), id: 'me' })).rejects.toThrow(/EXAI_PORT_BASE/);
  });
});

