// Drives VS Code's own MCP client without a language model (shared/EDITORS.md): start the
// servers of .vscode/mcp.json through the internal command, wait for their tools in
// vscode.lm.tools (named mcp_<server>_<tool>: matched by suffix), call two of them, and write
// what happened to <workspace>/.exai-probe.json for the test to read.
const fs = require('fs');
const path = require('path');
const vscode = require('vscode');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const textOf = (result) => result.content.map((p) => (typeof p.value === 'string' ? p.value : '')).join('');

async function probe(out, save) {
  out.vscode = vscode.version;
  // Without these a modal asks before the first tool call.
  await vscode.commands.executeCommand('setContext', 'vscode.chat.tools.global.autoApprove.testMode', true);
  if (process.env.EXAI_PROBE_PROVIDERS === '1') {
    // Servers of extension providers are discovered lazily: opening the server list activates
    // every collection (shared/EDITORS.md); then startServer calls their resolve.
    out.step = 'listServer';
    save();
    void vscode.commands.executeCommand('workbench.mcp.listServer');
    await sleep(4000);
    await vscode.commands.executeCommand('workbench.action.closeQuickOpen');
  }
  out.step = 'startServer';
  save();
  await vscode.commands.executeCommand('workbench.mcp.startServer', '*', { autoTrustChanges: true, waitForLiveTools: true });
  out.step = 'tools';
  save();
  const deadline = Date.now() + 120000;
  let status;
  while (Date.now() < deadline) {
    status = vscode.lm.tools.find((t) => t.name.endsWith('exai_status'));
    if (status && vscode.lm.tools.some((t) => t.name.endsWith(out.upstreamTool))) break;
    await sleep(500);
  }
  if (!status) throw new Error(`no exai_status among ${vscode.lm.tools.length} tools: ${vscode.lm.tools.map((t) => t.name).join(', ')}`);
  const prefix = status.name.slice(0, -'exai_status'.length);
  out.tools = vscode.lm.tools.filter((t) => t.name.startsWith(prefix)).map((t) => t.name.slice(prefix.length));
  out.step = 'call';
  save();
  const token = new vscode.CancellationTokenSource().token;
  out.status = JSON.parse(textOf(await vscode.lm.invokeTool(status.name, { input: {}, toolInvocationToken: undefined }, token)));
  const echo = vscode.lm.tools.find((t) => t.name === prefix + out.upstreamTool);
  if (echo) out.echo = textOf(await vscode.lm.invokeTool(echo.name, { input: { message: 'hello from VS Code' }, toolInvocationToken: undefined }, token));
  if (process.env.EXAI_PROBE_PROVIDERS === '1') {
    // For the README screenshot: the exai view in the Explorer, the status bar below.
    await vscode.commands.executeCommand('workbench.view.explorer');
    await vscode.commands.executeCommand('exai.fleet.focus').then(undefined, () => undefined);
    await vscode.commands.executeCommand('exai.refresh').then(undefined, () => undefined);
  }
  out.step = 'done';
}

exports.activate = function activate() {
  const folder = vscode.workspace.workspaceFolders && vscode.workspace.workspaceFolders[0];
  if (!folder) return;
  const file = path.join(folder.uri.fsPath, '.exai-probe.json');
  const out = { upstreamTool: 'everything__echo' };
  const save = () => fs.writeFileSync(file, JSON.stringify(out, null, 2));
  probe(out, save)
    .catch((err) => {
      out.error = String((err && err.stack) || err);
    })
    .finally(save);
};

exports.deactivate = function deactivate() {};
