import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Installed } from '../../scripts/test-clients/install.mjs';
import { waitFor } from '../helpers/env.js';

const PROBE = fileURLToPath(new URL('./vscode-probe', import.meta.url));

/** The little of playwright-core used here (it lives in the client cache, not in node_modules). */
interface Chromium {
  launch(options: { executablePath?: string; args?: string[] }): Promise<{
    newPage(options?: { viewport?: { width: number; height: number } }): Promise<{ goto(url: string): Promise<unknown>; screenshot(options: { path: string }): Promise<unknown> }>;
    close(): Promise<void>;
  }>;
}

/** What the probe extension saw inside VS Code (vscode-probe/extension.js). */
export interface ProbeResult {
  vscode?: string;
  step?: string;
  tools?: string[];
  status?: { port: number; workspace: string };
  echo?: string;
  error?: string;
}

/** The minimal VSIX (an OPC zip) `code-server --install-extension` accepts. */
function packProbe(dir: string): string {
  const root = join(dir, 'vsix');
  mkdirSync(join(root, 'extension'), { recursive: true });
  for (const f of ['package.json', 'extension.js']) copyFileSync(join(PROBE, f), join(root, 'extension', f));
  const pkg = JSON.parse(readFileSync(join(PROBE, 'package.json'), 'utf8')) as { name: string; publisher: string; version: string; engines: { vscode: string } };
  writeFileSync(
    join(root, 'extension.vsixmanifest'),
    `<?xml version="1.0" encoding="utf-8"?>
<PackageManifest Version="2.0.0" xmlns="http://schemas.microsoft.com/developer/vsx-schema/2011">
  <Metadata>
    <Identity Language="en-US" Id="${pkg.name}" Version="${pkg.version}" Publisher="${pkg.publisher}" />
    <DisplayName>${pkg.name}</DisplayName>
    <Description xml:space="preserve">test probe</Description>
    <Properties><Property Id="Microsoft.VisualStudio.Code.Engine" Value="${pkg.engines.vscode}" /></Properties>
  </Metadata>
  <Installation><InstallationTarget Id="Microsoft.VisualStudio.Code" /></Installation>
  <Dependencies />
  <Assets><Asset Type="Microsoft.VisualStudio.Code.Manifest" Path="extension/package.json" Addressable="true" /></Assets>
</PackageManifest>
`,
  );
  writeFileSync(
    join(root, '[Content_Types].xml'),
    '<?xml version="1.0" encoding="utf-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension=".json" ContentType="application/json" /><Default Extension=".js" ContentType="application/javascript" /><Default Extension=".vsixmanifest" ContentType="text/xml" /></Types>',
  );
  const vsix = join(dir, 'exai-probe.vsix');
  const res = spawnSync('zip', ['-q', '-r', vsix, '.'], { cwd: root, encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`zip failed: ${res.stderr}`);
  return vsix;
}

/**
 * VS Code itself (code-server) opens `workspace` in headless Chromium, as a user's browser
 * would; the probe extension starts the MCP servers of .vscode/mcp.json and calls exai's tools.
 * Everything code-server writes goes below `dir`; its whole process group is ended at the end.
 */
export async function runVsCode(
  vs: Installed,
  opts: {
    dir: string;
    workspace: string;
    port: number;
    env: NodeJS.ProcessEnv;
    /** More .vsix files to install beside the probe (the exai extension). */
    extensions?: string[];
    /** The probe first opens the MCP server list, which makes VS Code ask extension providers. */
    providers?: boolean;
    /** A PNG of the window once the probe is done. */
    screenshot?: string;
    /** Folders opened afterwards, each in another window (tab) of the same code-server. */
    more?: string[];
    /** User settings beside the suite's own (say, exai.path). */
    settings?: Record<string, unknown>;
  },
): Promise<{ version: string; probe: ProbeResult; others: ProbeResult[] }> {
  const userData = join(opts.dir, 'code-user-data');
  const extensions = join(opts.dir, 'code-extensions');
  mkdirSync(join(userData, 'User'), { recursive: true });
  writeFileSync(
    join(userData, 'User', 'settings.json'),
    JSON.stringify({ 'security.workspace.trust.enabled': false, 'chat.tools.global.autoApprove': true, 'workbench.startupEditor': 'none', 'telemetry.telemetryLevel': 'off', ...opts.settings }),
  );
  const config = join(opts.dir, 'code-server.yaml');
  writeFileSync(config, `bind-addr: 127.0.0.1:${opts.port}\nauth: none\ncert: false\n`);
  const env = { ...opts.env, PATH: `${vs.node24Bin}:${opts.env.PATH ?? ''}`, ...(opts.providers ? { EXAI_PROBE_PROVIDERS: '1' } : {}) };
  const common = ['--config', config, '--user-data-dir', userData, '--extensions-dir', extensions];
  const version = spawnSync(vs.codeServer!, ['--version', ...common], { env, encoding: 'utf8' }).stdout.trim().split('\n')[0] ?? '?';
  const install = spawnSync(vs.codeServer!, [...common, '--install-extension', packProbe(opts.dir)], { env, encoding: 'utf8', timeout: 120_000 });
  if (install.status !== 0) throw new Error(`installing the probe extension failed: ${install.stdout}${install.stderr}`);
  for (const vsix of opts.extensions ?? []) {
    const more = spawnSync(vs.codeServer!, [...common, '--install-extension', vsix], { env, encoding: 'utf8', timeout: 120_000 });
    if (more.status !== 0) throw new Error(`installing ${vsix} failed: ${more.stdout}${more.stderr}`);
  }

  let server: ChildProcess | undefined;
  let browser: { close(): Promise<void> } | undefined;
  let log = '';
  try {
    // Its own process group: extension hosts outlive the tab, and the MCP servers hang below them.
    server = spawn(vs.codeServer!, [...common, '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust', '--ignore-last-opened'], {
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    server.stdout?.setEncoding('utf8').on('data', (d: string) => (log = (log + d).slice(-10_000)));
    server.stderr?.setEncoding('utf8').on('data', (d: string) => (log = (log + d).slice(-10_000)));
    await waitFor(async () => ((await fetch(`http://127.0.0.1:${opts.port}/healthz`)).ok ? true : undefined), { timeoutMs: 60_000, intervalMs: 250, what: `code-server /healthz (${log})` });

    const { chromium } = createRequire(import.meta.url)(vs.playwright!) as { chromium: Chromium };
    const flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--disable-component-update', '--no-first-run'];
    const launched = await chromium.launch({ executablePath: vs.chromium, args: flags });
    browser = launched;
    const page = await launched.newPage({ viewport: { width: 1280, height: 720 } });
    await page.goto(`http://127.0.0.1:${opts.port}/?folder=${encodeURIComponent(opts.workspace)}`);
    const probed = (workspace: string) => {
      const file = join(workspace, '.exai-probe.json');
      return waitFor(
        () => {
          if (!existsSync(file)) return undefined;
          const r = JSON.parse(readFileSync(file, 'utf8')) as ProbeResult;
          return r.step === 'done' || r.error ? r : undefined;
        },
        { timeoutMs: 180_000, intervalMs: 500, what: `the probe extension (${existsSync(file) ? readFileSync(file, 'utf8') : 'not started'}; code-server: ${log.slice(-2000)})` },
      );
    };
    const probe = await probed(opts.workspace);
    if (opts.screenshot && probe.step === 'done') {
      // The views render from the extension's next fleet read: give the window a moment.
      await new Promise((r) => setTimeout(r, 5_000));
      await page.screenshot({ path: opts.screenshot });
    }
    const others: ProbeResult[] = [];
    for (const workspace of opts.more ?? []) {
      const other = await launched.newPage({ viewport: { width: 1280, height: 720 } });
      await other.goto(`http://127.0.0.1:${opts.port}/?folder=${encodeURIComponent(workspace)}`);
      others.push(await probed(workspace));
    }
    return { version, probe, others };
  } finally {
    await browser?.close().catch(() => undefined);
    if (server?.pid !== undefined) {
      try {
        process.kill(-server.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}
