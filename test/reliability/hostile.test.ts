/**
 * Hostile input, always-run sizes: WebSocket abuse and JSON-RPC abuse against a real daemon
 * process under pm2. The full sizes (10,000 malformed frames, …) run in test/stress/hostile.test.ts.
 */
import { defineHostileSuite } from './hostile-suite.js';

defineHostileSuite({ handshakes: 110, protocolRounds: 2, malformed: 500, slowloris: 10, jsonrpc: true });
