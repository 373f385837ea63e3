import { readFileSync } from 'node:fs';

/** The installed exai version, read once from package.json (dist/common -> ../../package.json). */
export const EXAI_VERSION: string = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
