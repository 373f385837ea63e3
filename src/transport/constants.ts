/**
 * Wire constants shared by both ends. Kept apart from the transports so that dialing (the
 * shim, health checks) does not load the SDK's schemas just to learn two numbers.
 */

/**
 * The largest frame either end accepts. The shim must carry 5 MB+ messages (file contents,
 * screenshots); anything far beyond that is a bug or an attack, and ws closes it with 1009.
 */
export const MAX_PAYLOAD = 32 * 1024 * 1024;

/** The WebSocket subprotocol of the daemon's `/mcp` endpoint. */
export const MCP_SUBPROTOCOL = 'mcp';
