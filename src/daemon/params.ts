/**
 * Parameter checks for the requests a session sends, so that wrong types are answered with
 * -32602 Invalid params (JSON-RPC 2.0 section 5.1) instead of the -32603 Internal error that
 * the SDK's handlers give when their schema rejects a request. Relayed requests are checked
 * only as far as exai reads them (the upstream checks the rest); requests the daemon answers
 * itself are checked against the SDK's schemas (none of them is on a hot path).
 */
import {
  CallToolRequestSchema,
  InitializeRequestSchema,
  ListPromptsRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListResourcesRequestSchema,
  ListToolsRequestSchema,
  PingRequestSchema,
  SetLevelRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';
import type { WireRequest } from '../transport/jsonrpc.js';

interface Parser {
  safeParse(value: unknown): { success: true } | { success: false; error: { issues: { path: PropertyKey[]; message: string }[] } };
}

// Maps, not object literals: a method named "constructor" or "__proto__" must find nothing.
const SDK_SCHEMAS = new Map<string, Parser>(Object.entries({
  initialize: InitializeRequestSchema,
  ping: PingRequestSchema,
  'logging/setLevel': SetLevelRequestSchema,
  'tools/list': ListToolsRequestSchema,
  'prompts/list': ListPromptsRequestSchema,
  'resources/list': ListResourcesRequestSchema,
  'resources/templates/list': ListResourceTemplatesRequestSchema,
  'resources/subscribe': SubscribeRequestSchema,
  'resources/unsubscribe': UnsubscribeRequestSchema,
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
  const sdk = SDK_SCHEMAS.get(method) ?? (builtinCall ? CallToolRequestSchema : undefined);
  if (sdk) {
    const parsed = sdk.safeParse(request);
    if (parsed.success) return undefined;
    const issue = parsed.error.issues[0];
    return issue ? `${issue.path.map(String).join('.') || 'request'}: ${issue.message}` : 'invalid';
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
