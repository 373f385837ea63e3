/**
 * Parameter checks for the requests a session sends, so that wrong types are answered with
 * -32602 Invalid params (JSON-RPC 2.0 section 5.1) instead of the -32603 Internal error that
 * the SDK's handlers give when their schema rejects a request. Relayed requests are checked
 * only as far as exai reads them (the upstream checks the rest); requests the daemon answers
 * itself are checked against the SDK's schemas (none of them is on a hot path).
 */
import { specTypeSchemas, type StandardSchemaV1Sync } from '@modelcontextprotocol/server';
import type { WireRequest } from '../transport/jsonrpc.js';

// Maps, not object literals: a method named "constructor" or "__proto__" must find nothing.
const SDK_SCHEMAS = new Map<string, StandardSchemaV1Sync>(Object.entries({
  initialize: specTypeSchemas.InitializeRequest,
  ping: specTypeSchemas.PingRequest,
  'logging/setLevel': specTypeSchemas.SetLevelRequest,
  'tools/list': specTypeSchemas.ListToolsRequest,
  'prompts/list': specTypeSchemas.ListPromptsRequest,
  'resources/list': specTypeSchemas.ListResourcesRequest,
  'resources/templates/list': specTypeSchemas.ListResourceTemplatesRequest,
  'resources/subscribe': specTypeSchemas.SubscribeRequest,
  'resources/unsubscribe': specTypeSchemas.UnsubscribeRequest,
}));

type Check = (params: Record<string, unknown>) => string | undefined;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const string = (field: string): Check => (p) => (typeof p[field] === 'string' ? undefined : `"${field}" must be a string`);
const optionalObject = (field: string): Check => (p) => (p[field] === undefined || isObject(p[field]) ? undefined : `"${field}" must be an object`);
const optionalString = (field: string): Check => (p) => (p[field] === undefined || typeof p[field] === 'string' ? undefined : `"${field}" must be a string`);

const ref: Check = (p) => {
  const r = p.ref;
  if (!isObject(r)) return '"ref" must be an object';
  if (r.type === 'ref/prompt') return typeof r.name === 'string' ? undefined : '"ref.name" must be a string';
  if (r.type === 'ref/resource') return typeof r.uri === 'string' ? undefined : '"ref.uri" must be a string';
  return '"ref.type" must be "ref/prompt" or "ref/resource"';
};

/** The fields exai reads from requests it relays. */
const RELAYED = new Map<string, Check[]>(Object.entries({
  'tools/call': [string('name'), optionalObject('arguments'), optionalObject('task')],
  'prompts/get': [string('name'), optionalObject('arguments')],
  'resources/read': [string('uri')],
  'completion/complete': [ref, optionalObject('argument')],
  'tasks/get': [string('taskId')],
  'tasks/result': [string('taskId')],
  'tasks/cancel': [string('taskId')],
  'tasks/list': [optionalString('cursor')],
}));

/** Methods that must carry params (the rest may omit them). */
const NEEDS_PARAMS = new Set(['tools/call', 'prompts/get', 'resources/read', 'completion/complete', 'tasks/get', 'tasks/result', 'tasks/cancel']);

/**
 * What is wrong with a request's params, one line, or undefined when nothing is (unknown
 * methods included: they get -32601 elsewhere). `builtinCall`: a tools/call the daemon answers
 * itself, checked in full.
 */
export function invalidParams(request: WireRequest, builtinCall = false): string | undefined {
  const { method, params } = request;
  const sdk = SDK_SCHEMAS.get(method) ?? (builtinCall ? specTypeSchemas.CallToolRequest : undefined);
  if (sdk) {
    const { issues } = sdk['~standard'].validate(request);
    if (!issues) return undefined;
    const issue = issues[0];
    const path = (issue?.path ?? []).map((p) => String(typeof p === 'object' ? p.key : p)).join('.');
    return issue ? `${path || 'request'}: ${issue.message}` : 'invalid';
  }
  const checks = RELAYED.get(method);
  if (!checks) return undefined;
  if (params === undefined) return NEEDS_PARAMS.has(method) ? '"params" is missing' : undefined;
  for (const check of checks) {
    const problem = check(params);
    if (problem) return problem;
  }
  return undefined;
}
