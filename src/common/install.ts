import { fileURLToPath } from 'node:url';

/**
 * The built CLI entry (dist/cli/main.js): what pm2 runs and what client configs launch.
 * Resolved from the package root, so it names the build also when this module runs from src/.
 */
export const CLI_ENTRY: string = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

/** The pm2 launcher (src/supervisor/pm2-launch.ts), built; resolved like CLI_ENTRY. */
export const PM2_LAUNCHER: string = fileURLToPath(new URL('../../dist/supervisor/pm2-launch.js', import.meta.url));
