"""The official MCP Python SDK as its users drive it, against the server a config lists.

Usage: python python_client.py CONFIG_JSON SERVER_NAME UPSTREAM_TOOL PROGRESS_TOOL
Launches the server with StdioServerParameters(command, args, env) from CONFIG_JSON's
mcpServers[SERVER_NAME]: the SDK gives it only a default environment (HOME, PATH, ...) plus that
env, so what the config lists is all the shim gets. Initializes, lists tools, calls exai_status
and UPSTREAM_TOOL, calls PROGRESS_TOOL with a progress callback, and prints one JSON object.
"""

import json
import sys
from importlib.metadata import version

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


def text_of(result):
    return "".join(getattr(c, "text", "") for c in result.content)


async def main(config_file, server_name, upstream_tool, progress_tool):
    with open(config_file, encoding="utf-8") as f:
        entry = json.load(f)["mcpServers"][server_name]
    params = StdioServerParameters(command=entry["command"], args=entry.get("args", []), env=entry.get("env"))
    out = {"sdk": version("mcp")}
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write, read_timeout_seconds=60) as session:
            init = await session.initialize()
            out["server"] = init.server_info.name
            tools = await session.list_tools()
            out["tools"] = [t.name for t in tools.tools]
            status = await session.call_tool("exai_status", {})
            out["status"] = status.structured_content or json.loads(text_of(status))
            echo = await session.call_tool(upstream_tool, {"message": "hello from python"})
            out["echo"] = text_of(echo)
            progress = []

            async def on_progress(value, total, message):
                progress.append([value, total])

            done = await session.call_tool(progress_tool, {"duration": 1, "steps": 3}, progress_callback=on_progress)
            out["progress"] = progress
            out["progressResult"] = text_of(done)
    print(json.dumps(out))


if __name__ == "__main__":
    anyio.run(main, *sys.argv[1:5])
