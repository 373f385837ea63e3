// Builds dist/exai-vscode.vsix: the VS Code extension (vscode/) with the exai it runs inside.
// Run through `npm run vsix` (after `npm run build`); the root build and `npm test` never need it.
//
// The extension is staged in a temp folder:
//   package.json, README.md       vscode/package.json (its version = exai's), vscode/README.md
//   out/extension.cjs             vscode/src bundled by esbuild (vscode external)
//   exai/                         what `npm pack` of the root ships (package.json,
//                                 ecosystem.config.js, dist/ without source maps) plus the
//                                 production node_modules it needs at run time (pm2, the MCP
//                                 SDK, …), copied from this checkout's node_modules
// and packed by @vscode/vsce with --no-dependencies (the extension's own code is one bundle).
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = join(root, 'dist', 'exai-vscode.vsix');
if (!existsSync(join(root, 'dist', 'cli', 'main.js'))) throw new Error('dist/cli/main.js is missing; run `npm run build` first (npm run vsix does)');

const stage = mkdtempSync(join(tmpdir(), 'exai-vsix-'));
try {
  const rootPkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const extPkg = JSON.parse(readFileSync(join(root, 'vscode', 'package.json'), 'utf8'));
  extPkg.version = rootPkg.version;
  writeFileSync(join(stage, 'package.json'), JSON.stringify(extPkg, null, 2) + '\n');
  cpSync(join(root, 'vscode', 'README.md'), join(stage, 'README.md'));
  writeFileSync(join(stage, '.vscodeignore'), '**/*.map\n');

  await build({
    entryPoints: [join(root, 'vscode', 'src', 'extension.ts')],
    outfile: join(stage, 'out', 'extension.cjs'),
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['vscode'],
    // jsonc-parser's UMD build does dynamic requires: take its ESM entry.
    mainFields: ['module', 'main'],
    logLevel: 'warning',
  });

  const exai = join(stage, 'exai');
  mkdirSync(exai);
  cpSync(join(root, 'package.json'), join(exai, 'package.json'));
  cpSync(join(root, 'ecosystem.config.js'), join(exai, 'ecosystem.config.js'));
  cpSync(join(root, 'dist'), join(exai, 'dist'), { recursive: true, filter: (src) => !src.endsWith('.map') && !src.endsWith('.vsix') && !src.endsWith('.tsbuildinfo') });

  // Every production package, each at its own path; a nested node_modules is listed (and
  // copied) on its own, and .bin links are not needed.
  const listed = execFileSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: root, encoding: 'utf8', shell: process.platform === 'win32' })
    .split(/\r?\n/)
    .filter((p) => p && p !== root.replace(/[\\/]$/, ''));
  for (const dir of listed) {
    const rel = relative(root, dir);
    if (!rel.startsWith(`node_modules${sep}`) || !statSync(dir).isDirectory()) continue;
    cpSync(dir, join(exai, rel), {
      recursive: true,
      dereference: true,
      filter: (src) => {
        const inner = relative(dir, src);
        return !(inner === 'node_modules' || inner.startsWith(`node_modules${sep}`));
      },
    });
  }

  mkdirSync(dirname(out), { recursive: true });
  rmSync(out, { force: true });
  execFileSync(process.execPath, [join(root, 'node_modules', '@vscode', 'vsce', 'vsce'), 'package', '--no-dependencies', '--skip-license', '--allow-missing-repository', '--out', out], {
    cwd: stage,
    stdio: 'inherit',
  });
  console.log(`${relative(root, out)}: ${(statSync(out).size / 1e6).toFixed(1)} MB`);
} finally {
  rmSync(stage, { recursive: true, force: true });
}
