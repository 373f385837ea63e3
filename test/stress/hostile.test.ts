/**
 * Hostile WebSocket input at full size (EXAI_STRESS=1): 2,000 refused handshakes, 450
 * protocol-level malformed frames, 2 x 10,000 malformed messages, 200 slowloris handshakes
 * plus 200 silent connections, against a real daemon process under pm2.
 */
import { defineHostileSuite } from '../reliability/hostile-suite.js';

defineHostileSuite({ handshakes: 2_002, protocolRounds: 50, malformed: 10_000, slowloris: 200, jsonrpc: false });
