// What the daemon bundle takes for `@modelcontextprotocol/{client,server}/_shims` (see
// scripts/bundle.mjs, "sdkLean"): the SDK's Node shims without their default JSON Schema
// validator. That validator (ajv and ajv-formats, ~150 KB in each package) serves
// `Client.callTool`'s output-schema checks and `Server.elicitInput`; exai relays calls and
// elicitations as JSON-RPC and calls neither, so the daemon loads it for nothing.
import process from 'node:process';

export class DefaultJsonSchemaValidator {
  getValidator() {
    throw new Error('the exai daemon bundle has no JSON Schema validator: pass jsonSchemaValidator to the SDK client or server that needs one');
  }
}

// Node is not a browser: a fetch TypeError is never CORS (the client's shimsNode).
export const CORS_IS_POSSIBLE = false;

export { process };
