// A stand-in for an exai daemon that speaks Streamable HTTP (no exai daemon does yet): GET
// /health lists `http` in `transports`, and /mcp serves MCP over Streamable HTTP (stateless)
// to a request bearing STANDIN_TOKEN only, with exai_status and everything__echo. It prints
// `listening` once bound to 127.0.0.1:STANDIN_PORT. Used with test/vscode-extension/http-exai.mjs
// as exai.path, so the extension's HTTP definition is exercised in real VS Code.
import { createServer } from 'node:http';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

const port = Number(process.env.STANDIN_PORT);
const workspace = process.env.STANDIN_WORKSPACE;
let authorized = 0;

function mcpServer() {
  const server = new McpServer({ name: 'exai-http-standin', version: '0.1.0' });
  server.registerTool('exai_status', { description: 'status' }, async () => ({ content: [{ type: 'text', text: JSON.stringify({ port, workspace, authorized, transport: 'http' }) }] }));
  server.registerTool('everything__echo', { description: 'echo', inputSchema: { message: z.string() } }, async ({ message }) => ({ content: [{ type: 'text', text: `Echo: ${message}` }] }));
  return server;
}

createServer(async (req, res) => {
  if (req.url === '/health') {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ ok: true, version: '0.1.0', id: process.env.STANDIN_ID, pid: process.pid, port, uptimeMs: 1, sessions: 0, transports: ['ws', 'http'] }));
    return;
  }
  if (req.headers.authorization !== `Bearer ${process.env.STANDIN_TOKEN}`) {
    res.statusCode = 401;
    res.end('missing or wrong bearer token\n');
    return;
  }
  authorized++;
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
  res.on('close', () => void transport.close());
  await mcpServer().connect(transport);
  await transport.handleRequest(req, res);
}).listen(port, '127.0.0.1', () => process.stdout.write('listening\n'));
