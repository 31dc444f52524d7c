import type { IncomingMessage, ServerResponse } from "node:http";
import { CredentialLockedError, VaultError, VaultUnsealError, type CredentialSubmission, type OperatorCredentialInput, type OperatorInit } from "@strongroom/vault";
import { readBody } from "../http/body.ts";
import { HttpError } from "../http/errors.ts";
import { sendJson } from "../http/respond.ts";
import type { RequestContext } from "../http/router.ts";
import { decodeSecretBody, SECRET_BODY_MEDIA_TYPE, secretAt, wipe, type SecretBody } from "../http/secret-body.ts";
import type { SealedKeys } from "../vault/sealed-keys.ts";
import type { SignerContext } from "./context.ts";

/**
 * The vault's ceremonies under /api/v1/strongroom/vault (DESIGN.md §7):
 * status, init, rotate and seal need a `manage` token; an operator unsealing
 * holds no token, so listing an operator's credentials and submitting one
 * are open, and the credential is the authentication (wrong ones are counted
 * and lock the operator out). Secrets arrive in a secret body, never as JSON
 * strings, and are zeroed once the vault has used them.
 */

const MAX_SECRET_BODY = 256 * 1024;
const HEX_CHALLENGE = /^[0-9a-f]{64}$/;

function sealedKeysOf(ctx: SignerContext): SealedKeys {
  if (ctx.sealedKeys === undefined) throw new HttpError(404, "this signer has no vault: it runs without a sealed key store (standard mode, or no --vault-db-url)");
  return ctx.sealedKeys;
}

/** VaultErrors as statuses: a store or KMS that did not answer is 503, a refusal of the state or input 409/400. */
function vaultHttpError(error: unknown): unknown {
  if (error instanceof HttpError) return error;
  if (error instanceof CredentialLockedError) return new HttpError(429, error.message, { "retry-after": String(Math.ceil(error.retryAfterMs / 1000)) });
  if (error instanceof VaultUnsealError) return new HttpError(503, error.message);
  if (error instanceof VaultError) {
    if (error.message === "wrong credential") return new HttpError(403, "wrong credential");
    if (error.cause !== undefined) return new HttpError(503, error.message);
    if (/already|is sealed|is unsealed|not initialised|uninitialized|in progress|another writer|needs an unsealed/.test(error.message)) return new HttpError(409, error.message);
    return new HttpError(400, error.message);
  }
  return error;
}

async function run<T>(action: () => Promise<T> | T): Promise<T> {
  try {
    return await action();
  } catch (error) {
    throw vaultHttpError(error);
  }
}

async function readSecretBody(req: IncomingMessage): Promise<SecretBody> {
  const mediaType = req.headers["content-type"]?.split(";", 1)[0]?.trim().toLowerCase();
  if (mediaType !== SECRET_BODY_MEDIA_TYPE) throw new HttpError(415, `send this request as ${SECRET_BODY_MEDIA_TYPE} (strongroom operator builds it); secrets never travel as JSON strings`);
  return decodeSecretBody(await readBody(req, MAX_SECRET_BODY));
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

function fieldsOf(json: unknown, allowed: readonly string[], what: string): Record<string, unknown> {
  if (!isObject(json)) throw new HttpError(400, `${what}: the JSON part must be an object`);
  const unknown = Object.keys(json).find((key) => !allowed.includes(key));
  if (unknown !== undefined) throw new HttpError(400, `${what}: unknown field ${JSON.stringify(unknown.slice(0, 40))}; expected ${allowed.join(", ")}`);
  return json;
}

function credentialOf(body: SecretBody, value: unknown, what: string): OperatorCredentialInput {
  const c = fieldsOf(value, ["kind", "credential_id", "passphrase", "challenge", "response"], what);
  if (typeof c["credential_id"] !== "string") throw new HttpError(400, `${what}.credential_id must be a string`);
  if (c["kind"] === "passphrase") return { kind: "passphrase", credentialId: c["credential_id"], passphrase: secretAt(body, c["passphrase"], `${what}.passphrase`) };
  if (c["kind"] === "hmac-sha1") {
    if (typeof c["challenge"] !== "string" || !HEX_CHALLENGE.test(c["challenge"])) throw new HttpError(400, `${what}.challenge must be 64 lowercase hex digits (32 bytes)`);
    return { kind: "hmac-sha1", credentialId: c["credential_id"], challenge: new Uint8Array(Buffer.from(c["challenge"], "hex")), response: secretAt(body, c["response"], `${what}.response`) };
  }
  throw new HttpError(400, `${what}.kind must be "passphrase" or "hmac-sha1"`);
}

function operatorsOf(body: SecretBody, value: unknown): OperatorInit[] {
  if (!Array.isArray(value)) throw new HttpError(400, "operators must be a list of {id, credentials}");
  return value.map((entry, i) => {
    const o = fieldsOf(entry, ["id", "credentials"], `operators[${i}]`);
    if (typeof o["id"] !== "string") throw new HttpError(400, `operators[${i}].id must be a string`);
    if (!Array.isArray(o["credentials"])) throw new HttpError(400, `operators[${i}].credentials must be a list`);
    return { id: o["id"], credentials: o["credentials"].map((c, j) => credentialOf(body, c, `operators[${i}].credentials[${j}]`)) };
  });
}

function optionalKeys(value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every((k) => typeof k === "string")) throw new HttpError(400, "kms_keys must be a list of KMS key ids or ARNs");
  return value as string[];
}

function optionalCount(value: unknown, what: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value)) throw new HttpError(400, `${what} must be an integer`);
  return value;
}

const SHARE_FIELDS = ["kms_keys", "kms_threshold", "operators", "operator_threshold"] as const;

function sharesRequest(body: SecretBody, what: string) {
  const f = fieldsOf(body.json, SHARE_FIELDS, what);
  return {
    kmsKeys: optionalKeys(f["kms_keys"]),
    kmsThreshold: optionalCount(f["kms_threshold"], "kms_threshold"),
    operators: f["operators"] === undefined ? undefined : operatorsOf(body, f["operators"]),
    operatorThreshold: optionalCount(f["operator_threshold"], "operator_threshold"),
  };
}

function statusJson(sealed: SealedKeys) {
  const s = sealed.status();
  return {
    state: s.state,
    ...(s.vaultId !== undefined && { vault_id: s.vaultId, generation: s.generation }),
    kms: s.kms,
    operators: s.operators,
    ...(s.reason !== undefined && { reason: s.reason }),
    keys: { loaded: s.keys.loaded, loading: s.keys.loading, failed: s.keys.failed.map((f) => ({ public_key: f.publicKey, reason: f.reason })) },
    ...(s.tokens !== undefined && { tokens: s.tokens }),
  };
}

export function handleVaultStatus(ctx: SignerContext, res: ServerResponse): void {
  sendJson(res, 200, statusJson(sealedKeysOf(ctx)));
}

/** Init and rotate: the shares request from a secret body, applied, the secrets wiped whatever happens; answered with the status. */
async function sharesCeremony(
  ctx: SignerContext,
  req: IncomingMessage,
  res: ServerResponse,
  { caller }: RequestContext,
  what: "init" | "rotate",
  apply: (sealed: SealedKeys, request: ReturnType<typeof sharesRequest>) => Promise<void>,
): Promise<void> {
  const sealed = sealedKeysOf(ctx);
  const body = await readSecretBody(req);
  try {
    const request = sharesRequest(body, what);
    await run(() => apply(sealed, request));
  } finally {
    wipe(body.secrets);
  }
  ctx.log.info({ by: caller.tokenId }, what === "init" ? "vault initialised through the API" : "vault shares rotated through the API");
  sendJson(res, 200, statusJson(sealed));
}

export function handleVaultInit(ctx: SignerContext, req: IncomingMessage, res: ServerResponse, r: RequestContext): Promise<void> {
  return sharesCeremony(ctx, req, res, r, "init", (sealed, q) =>
    sealed.init({ kmsKeys: q.kmsKeys ?? [], kmsThreshold: q.kmsThreshold ?? 0, operators: q.operators ?? [], operatorThreshold: q.operatorThreshold ?? 0 }),
  );
}

export function handleVaultRotate(ctx: SignerContext, req: IncomingMessage, res: ServerResponse, r: RequestContext): Promise<void> {
  return sharesCeremony(ctx, req, res, r, "rotate", (sealed, q) =>
    sealed.rotate({
      ...(q.kmsKeys !== undefined && { kmsKeys: q.kmsKeys }),
      ...(q.kmsThreshold !== undefined && { kmsThreshold: q.kmsThreshold }),
      ...(q.operators !== undefined && { operators: q.operators }),
      ...(q.operatorThreshold !== undefined && { operatorThreshold: q.operatorThreshold }),
    }),
  );
}

export function handleVaultSeal(ctx: SignerContext, res: ServerResponse, { caller }: RequestContext): void {
  const sealed = sealedKeysOf(ctx);
  sealed.seal();
  ctx.log.warn({ by: caller.tokenId }, "vault sealed on command: every validator key is out of memory");
  sendJson(res, 200, statusJson(sealed));
}

export async function handleVaultUnsealKms(ctx: SignerContext, res: ServerResponse): Promise<void> {
  const sealed = sealedKeysOf(ctx);
  await run(() => sealed.unsealWithKms());
  sendJson(res, 200, statusJson(sealed));
}

export async function handleOperatorCredentials(ctx: SignerContext, res: ServerResponse, { params }: RequestContext): Promise<void> {
  const sealed = sealedKeysOf(ctx);
  const operatorId = decodeURIComponent(params[0]!);
  const credentials = await run(() => sealed.vault.credentialsOf(operatorId));
  sendJson(res, 200, {
    data: credentials.map((c) => ({ credential_id: c.credentialId, kind: c.kind, ...(c.challenge !== undefined && { challenge: Buffer.from(c.challenge).toString("hex") }) })),
  });
}

export async function handleVaultUnseal(ctx: SignerContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const sealed = sealedKeysOf(ctx);
  const body = await readSecretBody(req);
  try {
    const f = fieldsOf(body.json, ["operator", "kind", "credential_id", "secret"], "unseal");
    if (typeof f["operator"] !== "string") throw new HttpError(400, "unseal: operator must be the operator's id");
    const credentialId = f["credential_id"];
    if (credentialId !== undefined && typeof credentialId !== "string") throw new HttpError(400, "unseal: credential_id must be a string");
    const secret = secretAt(body, f["secret"], "unseal: secret");
    let submission: CredentialSubmission;
    if (f["kind"] === "passphrase") submission = { kind: "passphrase", passphrase: secret };
    else if (f["kind"] === "hmac-sha1") submission = { kind: "hmac-sha1", response: secret };
    else throw new HttpError(400, 'unseal: kind must be "passphrase" or "hmac-sha1"');
    const operatorId = f["operator"];
    const progress = await run(() => sealed.submitOperatorCredential(operatorId, submission, credentialId === undefined ? {} : { credentialId }));
    ctx.log.info({ operatorId, received: progress.received, threshold: progress.threshold, state: progress.state }, "operator credential accepted towards the unseal");
    sendJson(res, 200, progress);
  } catch (error) {
    const operator = (body.json as { operator?: unknown } | null)?.operator;
    if (error instanceof HttpError && error.status === 403) ctx.log.warn({ operator: typeof operator === "string" ? operator.slice(0, 128) : undefined }, "operator unseal: wrong credential");
    throw error;
  } finally {
    wipe(body.secrets);
  }
}
