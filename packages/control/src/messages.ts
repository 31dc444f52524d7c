// The control channel's messages (DESIGN.md §5), version 1. The parent is
// untrusted: everything it sends is validated field by field, unknown fields
// are refused, and nothing here can change what the enclave trusts — the
// network, the slashing database and the roots it verifies are part of the
// measured image, not of the bootstrap.

import { EGRESS_PORTS } from "./ports.ts";

export const CONTROL_VERSION = 1;
export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** One allow-listed destination and the parent's vsock port that reaches it. */
export interface EgressEntry {
  readonly host: string;
  readonly port: number;
  readonly vsockPort: number;
}

/** What the parent tells a freshly started enclave: how to reach the outside, nothing it must trust. */
export interface BootstrapConfig {
  readonly egress: readonly EgressEntry[];
  /** Ingress streams start with a PROXY protocol v2 header carrying the client's address (parent-asserted). */
  readonly proxyProtocol: boolean;
  /** AWS region for the SDK clients (KMS, DynamoDB). */
  readonly region?: string;
  readonly logLevel?: LogLevel;
}

/** The parent's own AWS credentials (it holds them anyway; they are not the enclave's secrets, but are never logged). */
export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  /** ISO 8601; absent for long-term keys. */
  readonly expiration?: string;
}

export type EnclaveState = "awaiting-bootstrap" | "starting" | "serving" | "failed";

export interface EnclaveHealth {
  readonly state: EnclaveState;
  /** Validator keys loaded. */
  readonly keys: number;
  readonly uptimeSeconds: number;
  /** When the enclave's current AWS credentials expire (ISO 8601), if it has any that expire. */
  readonly credentialsExpiration?: string;
  /** Set when state is "failed": why, in words an operator can act on. */
  readonly reason?: string;
}

export type ParentMessage =
  | { readonly v: 1; readonly id: number; readonly type: "bootstrap"; readonly config: BootstrapConfig }
  | { readonly v: 1; readonly id: number; readonly type: "credentials"; readonly credentials: AwsCredentials }
  | { readonly v: 1; readonly id: number; readonly type: "health" };

export type EnclaveMessage =
  | { readonly v: 1; readonly id: number; readonly type: "ok" }
  | { readonly v: 1; readonly id: number; readonly type: "error"; readonly message: string }
  | { readonly v: 1; readonly id: number; readonly type: "health"; readonly health: EnclaveHealth };

export class ControlMessageError extends Error {
  override name = "ControlMessageError";
}

type Json = Record<string, unknown>;

function fail(where: string, problem: string): never {
  throw new ControlMessageError(`${where}: ${problem}`);
}

/** The object at `where`, with only the allowed fields, and every required one present. */
function record(value: unknown, where: string, required: readonly string[], optional: readonly string[] = []): Json {
  if (typeof value !== "object" || value === null || Array.isArray(value)) fail(where, "expected a JSON object");
  const json = value as Json;
  for (const field of Object.keys(json)) {
    if (!required.includes(field) && !optional.includes(field)) fail(where, `unknown field "${field.slice(0, 40)}"`);
  }
  for (const field of required) if (!(field in json)) fail(where, `missing field "${field}"`);
  return json;
}

function text(value: unknown, where: string, maxLength: number, pattern?: RegExp): string {
  if (typeof value !== "string" || value.length === 0 || value.length > maxLength) fail(where, `expected a string of 1 to ${maxLength} characters`);
  if (pattern !== undefined && !pattern.test(value)) fail(where, "malformed");
  return value;
}

function integer(value: unknown, where: string, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) fail(where, `expected an integer from ${min} to ${max}`);
  return value;
}

function isoDate(value: unknown, where: string): string {
  const date = text(value, where, 40, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/);
  if (Number.isNaN(Date.parse(date))) fail(where, "not a valid date");
  return date;
}

const HOST = /^[A-Za-z0-9.-]+$|^\[?[0-9A-Fa-f:.]+\]?$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d+$/;
const PRINTABLE = /^[\x21-\x7e]+$/;
const MAX_EGRESS = EGRESS_PORTS.last - EGRESS_PORTS.first + 1;

function bootstrapConfig(value: unknown, where: string): BootstrapConfig {
  const json = record(value, where, ["egress", "proxyProtocol"], ["region", "logLevel"]);
  if (!Array.isArray(json["egress"]) || json["egress"].length > MAX_EGRESS) fail(`${where}.egress`, `expected a list of at most ${MAX_EGRESS} routes`);
  const seen = new Set<string>();
  const egress = json["egress"].map((entry: unknown, i: number): EgressEntry => {
    const at = `${where}.egress[${i}]`;
    const route = record(entry, at, ["host", "port", "vsockPort"]);
    const host = text(route["host"], `${at}.host`, 253, HOST).toLowerCase();
    const port = integer(route["port"], `${at}.port`, 1, 65535);
    const vsockPort = integer(route["vsockPort"], `${at}.vsockPort`, EGRESS_PORTS.first, EGRESS_PORTS.last);
    for (const key of [`${host}:${port}`, `vsock:${vsockPort}`]) {
      if (seen.has(key)) fail(at, `duplicate ${key.startsWith("vsock:") ? "vsock port" : "destination"} ${key.replace(/^vsock:/, "")}`);
      seen.add(key);
    }
    return { host, port, vsockPort };
  });
  if (typeof json["proxyProtocol"] !== "boolean") fail(`${where}.proxyProtocol`, "expected true or false");
  const config: { -readonly [K in keyof BootstrapConfig]: BootstrapConfig[K] } = { egress, proxyProtocol: json["proxyProtocol"] };
  if (json["region"] !== undefined) config.region = text(json["region"], `${where}.region`, 32, REGION);
  if (json["logLevel"] !== undefined) {
    if (!(LOG_LEVELS as readonly unknown[]).includes(json["logLevel"])) fail(`${where}.logLevel`, `expected one of ${LOG_LEVELS.join(", ")}`);
    config.logLevel = json["logLevel"] as LogLevel;
  }
  return config;
}

function awsCredentials(value: unknown, where: string): AwsCredentials {
  const json = record(value, where, ["accessKeyId", "secretAccessKey"], ["sessionToken", "expiration"]);
  return {
    accessKeyId: text(json["accessKeyId"], `${where}.accessKeyId`, 128, /^[A-Z0-9]+$/),
    secretAccessKey: text(json["secretAccessKey"], `${where}.secretAccessKey`, 256, PRINTABLE),
    ...(json["sessionToken"] !== undefined && { sessionToken: text(json["sessionToken"], `${where}.sessionToken`, 8192, PRINTABLE) }),
    ...(json["expiration"] !== undefined && { expiration: isoDate(json["expiration"], `${where}.expiration`) }),
  };
}

const STATES: readonly EnclaveState[] = ["awaiting-bootstrap", "starting", "serving", "failed"];

function health(value: unknown, where: string): EnclaveHealth {
  const json = record(value, where, ["state", "keys", "uptimeSeconds"], ["credentialsExpiration", "reason"]);
  if (!STATES.includes(json["state"] as EnclaveState)) fail(`${where}.state`, `expected one of ${STATES.join(", ")}`);
  return {
    state: json["state"] as EnclaveState,
    keys: integer(json["keys"], `${where}.keys`, 0, 1_000_000_000),
    uptimeSeconds: integer(json["uptimeSeconds"], `${where}.uptimeSeconds`, 0, Number.MAX_SAFE_INTEGER),
    ...(json["credentialsExpiration"] !== undefined && { credentialsExpiration: isoDate(json["credentialsExpiration"], `${where}.credentialsExpiration`) }),
    ...(json["reason"] !== undefined && { reason: text(json["reason"], `${where}.reason`, 2048) }),
  };
}

/** The envelope every message shares: the version and a request id. */
function envelope(body: Uint8Array, payload: readonly string[]): { json: Json; id: number; type: string } {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(body).toString("utf8"));
  } catch {
    fail("control message", "not valid JSON");
  }
  const head = record(json, "control message", ["v", "id", "type"], payload);
  if (head["v"] !== CONTROL_VERSION) fail("control message", `version ${String(head["v"]).slice(0, 20)} is not supported (this side speaks ${CONTROL_VERSION})`);
  return { json: head, id: integer(head["id"], "control message id", 0, 2 ** 31 - 1), type: String(head["type"]) };
}

/** What the enclave accepts from the parent. */
export function parseParentMessage(body: Uint8Array): ParentMessage {
  const { json, id, type } = envelope(body, ["config", "credentials"]);
  switch (type) {
    case "bootstrap":
      record(json, "bootstrap message", ["v", "id", "type", "config"]);
      return { v: 1, id, type, config: bootstrapConfig(json["config"], "bootstrap.config") };
    case "credentials":
      record(json, "credentials message", ["v", "id", "type", "credentials"]);
      return { v: 1, id, type, credentials: awsCredentials(json["credentials"], "credentials.credentials") };
    case "health":
      record(json, "health message", ["v", "id", "type"]);
      return { v: 1, id, type };
    default:
      fail("control message", `unknown type "${type.slice(0, 40)}"`);
  }
}

/** What the parent accepts from the enclave. */
export function parseEnclaveMessage(body: Uint8Array): EnclaveMessage {
  const { json, id, type } = envelope(body, ["message", "health"]);
  switch (type) {
    case "ok":
      record(json, "ok message", ["v", "id", "type"]);
      return { v: 1, id, type };
    case "error":
      record(json, "error message", ["v", "id", "type", "message"]);
      return { v: 1, id, type, message: text(json["message"], "error.message", 4096) };
    case "health":
      record(json, "health message", ["v", "id", "type", "health"]);
      return { v: 1, id, type, health: health(json["health"], "health.health") };
    default:
      fail("control message", `unknown type "${type.slice(0, 40)}"`);
  }
}
