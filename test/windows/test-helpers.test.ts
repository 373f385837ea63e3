/**
 * WINDOWS.md #31: the test helpers must not assume Linux. Test port blocks skip the ranges
 * Windows reserves (Hyper-V, WSL, Docker: `netsh interface ipv4 show excludedportrange`).
 */
import { describe, expect, it } from 'vitest';
import { parseExcludedPortRanges } from '../helpers/platform.js';

// As printed by Windows 11 (en-US) with Hyper-V on; `*` marks an administered exclusion.
const NETSH = [
  '',
  'Protocol tcp Port Exclusion Ranges',
  '',
  'Start Port    End Port',
  '----------    --------',
  '      1080        1179',
  '      5357        5357',
  '     12500       12599',
  '     50000       50059     *',
  '',
  '* - Administered port exclusions.',
  '',
].join('\r\n');

describe('Windows reserved port ranges in the test helpers (WINDOWS.md #31)', () => {
  it('reads every range of netsh\'s table, administered ones included, and nothing of its headings', () => {
    expect(parseExcludedPortRanges(NETSH)).toEqual([
      { start: 1080, end: 1179 },
      { start: 5357, end: 5357 },
      { start: 12500, end: 12599 },
      { start: 50000, end: 50059 },
    ]);
    expect(parseExcludedPortRanges('')).toEqual([]);
  });
});
