// Marks the built CLI executable so `./dist/cli/main.js` runs straight from a clone. A node
// script, not `chmod +x`: npm runs package scripts with cmd.exe on Windows, which has no chmod
// (WINDOWS.md #1). On Windows the mode does nothing, and npm's own bin linking sets it on install.
import { chmodSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = new URL('..', import.meta.url);
const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'));
for (const bin of Object.values(pkg.bin ?? {})) chmodSync(fileURLToPath(new URL(bin, root)), 0o755);
