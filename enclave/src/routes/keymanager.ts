import type { IncomingMessage, ServerResponse } from "node:http";
import { toHex } from "@strongroom/eth2";
import { blsPublicKey, KeystoreError, parseKeystore, type Keystore } from "@strongroom/keystore";
import { interchangeToJson, parseInterchange, SlashingProtectionError } from "@strongroom/slashing";
import { ANY } from "../auth/index.ts";
import { readJsonBody } from "../http/body.ts";
import { HttpError } from "../http/errors.ts";
import { sendJson } from "../http/respond.ts";
import type { RequestContext } from "../http/router.ts";
import { canonicalPublicKey, publicKeyBytes } from "../keys/public-key.ts";
import type { Caller } from "../pipeline/access.ts";
import { batchedEnabler } from "../slashing/batched-enable.ts";
import type { SignerContext } from "./context.ts";
import { permittedKeys } from "./health.ts";
import { VAULT_KEY_SOURCE } from "../vault/sealed-keys.ts";

/** Bounds the work one import request can demand (each keystore may cost a 256 MiB scrypt). */
const MAX_KEYSTORES_PER_REQUEST = 1000;

type ImportStatus = { status: "imported" | "duplicate" | "error"; message: string };
type DeleteStatus = { status: "deleted" | "not_active" | "not_found" | "error"; message: string };

/** GET /eth/v1/keystores: the keys on which the caller holds keymanager_read. */
export function handleListKeystores(ctx: SignerContext, res: ServerResponse, { caller }: RequestContext): void {
  sendJson(res, 200, {
    data: permittedKeys(ctx, caller, "keymanager_read").map((key) => ({
      validating_pubkey: key.publicKey,
      derivation_path: key.derivationPath,
      readonly: key.readonly,
    })),
  });
}

/**
 * POST /eth/v1/keystores: imports are memory-only, decrypted in parallel on
 * the keystore pool, and reported per keystore in request order. The caller
 * needs keymanager_write on every key: a keystore that declares a key the
 * caller may not import refuses the whole request before any work; one that
 * declares none is checked once decrypted.
 */
export async function handleImportKeystores(ctx: SignerContext, req: IncomingMessage, res: ServerResponse, { caller }: RequestContext): Promise<void> {
  ctx.access.require(caller, "keymanager_write", ANY);
  const body = await readJsonBody(req, ctx.limits.keymanagerBytes);
  const { keystores, passwords, persist } = readImportBody(body);
  if (persist && ctx.sealedKeys === undefined) throw new HttpError(400, '"persist": this signer has no sealed key store; imports here are memory-only');
  if (persist && !ctx.sealedKeys!.unsealed) throw new HttpError(503, `"persist": the vault is ${ctx.sealedKeys!.vault.state}; unseal it first`, { "retry-after": "5" });
  const parsed = keystores.map(parseOne);
  for (const keystore of parsed) {
    if ("kdf" in keystore && keystore.pubkey !== undefined) ctx.access.require(caller, "keymanager_write", toHex(keystore.pubkey));
  }
  // The keys' slashing history goes in before the keys, so that no key can sign before its history is known.
  const slashingProtection = isObject(body) ? body["slashing_protection"] : undefined;
  if (slashingProtection !== undefined && slashingProtection !== null) await importSlashingProtection(ctx, slashingProtection);
  const enable = ctx.slashing === undefined ? undefined : batchedEnabler(ctx.slashing);
  const results = await Promise.all(parsed.map((keystore, i) => ("kdf" in keystore ? importOne(ctx, caller, keystore, passwords[i]!, persist, enable) : keystore)));
  sendJson(res, 200, { data: results });
}

function parseOne(keystoreText: string): Keystore | ImportStatus {
  try {
    return parseKeystore(keystoreText);
  } catch (error) {
    return { status: "error", message: errorMessage(error) };
  }
}

async function importOne(
  ctx: SignerContext,
  caller: Caller,
  keystore: Keystore,
  password: string,
  persist: boolean,
  enable: ((publicKey: Uint8Array) => Promise<void>) | undefined,
): Promise<ImportStatus> {
  const declared = keystore.pubkey === undefined ? undefined : toHex(keystore.pubkey);
  if (declared !== undefined && ctx.keys.get(declared) !== undefined) {
    return { status: "duplicate", message: `key ${declared} is already loaded` };
  }
  const passwordBytes = new TextEncoder().encode(password);
  let secretKey: Uint8Array;
  try {
    secretKey = await ctx.keystorePool.decrypt(keystore, passwordBytes);
  } catch (error) {
    return { status: "error", message: errorMessage(error) };
  } finally {
    passwordBytes.fill(0);
  }
  const publicKey = toHex(blsPublicKey(secretKey, "the decrypted key"));
  if (!ctx.access.permits(caller, "keymanager_write", publicKey)) {
    secretKey.fill(0);
    return { status: "error", message: `this token may not import key ${publicKey}` };
  }
  if (enable !== undefined && ctx.keys.get(publicKey) === undefined) {
    // A key deleted earlier was disabled in the database; importing it is the operator's word that it may sign again here.
    try {
      await enable(publicKeyBytes(publicKey));
    } catch (error) {
      secretKey.fill(0);
      return { status: "error", message: `slashing-protection database unavailable: ${(error as Error).message}` };
    }
  }
  if (persist) {
    if (ctx.keys.get(publicKey) !== undefined) {
      secretKey.fill(0);
      return { status: "duplicate", message: `key ${publicKey} is already loaded` };
    }
    try {
      if (!(await ctx.sealedKeys!.persistAndLoad(publicKey, secretKey))) return { status: "error", message: `key ${publicKey} was sealed into the store, but the vault was sealed meanwhile` };
    } catch (error) {
      return { status: "error", message: `key ${publicKey} could not be sealed into the store: ${(error as Error).message}` };
    }
    ctx.log.info({ publicKey }, "key imported through the Key Manager API and sealed into the store");
    return { status: "imported", message: "" };
  }
  const added = ctx.keys.add(
    { publicKey, source: "keymanager", readonly: false, derivationPath: keystore.path ?? "" },
    secretKey,
  );
  if (!added) return { status: "duplicate", message: `key ${publicKey} is already loaded` };
  ctx.log.info({ publicKey }, "key imported through the Key Manager API (memory only)");
  return { status: "imported", message: "" };
}

/** DELETE /eth/v1/keystores: the caller needs keymanager_write on every key named, or nothing is deleted. */
export async function handleDeleteKeystores(ctx: SignerContext, req: IncomingMessage, res: ServerResponse, { caller }: RequestContext): Promise<void> {
  ctx.access.require(caller, "keymanager_write", ANY);
  const body = await readJsonBody(req, ctx.limits.keymanagerBytes);
  if (!isObject(body) || !Array.isArray(body["pubkeys"]) || !body["pubkeys"].every((p) => typeof p === "string")) {
    throw new HttpError(400, 'body must be {"pubkeys": ["0x…", …]}');
  }
  const requested = body["pubkeys"] as string[];
  for (const text of requested) {
    const publicKey = canonicalPublicKey(text);
    if (publicKey !== undefined) ctx.access.require(caller, "keymanager_write", publicKey);
  }
  const deleted: string[] = [];
  const forgetSealed: string[] = [];
  const data: DeleteStatus[] = requested.map((text) => {
    const publicKey = canonicalPublicKey(text);
    if (publicKey === undefined) return { status: "error", message: `"${text.slice(0, 120)}" is not a BLS public key` };
    const key = ctx.keys.get(publicKey);
    if (key === undefined) return { status: "not_found", message: "" };
    if (key.readonly) {
      return { status: "error", message: `key ${publicKey} was loaded from ${key.source} and is read-only; remove it there` };
    }
    ctx.keys.remove(publicKey);
    deleted.push(publicKey);
    if (key.source === VAULT_KEY_SOURCE) forgetSealed.push(publicKey);
    ctx.log.info({ publicKey }, "key deleted through the Key Manager API");
    return { status: "deleted", message: "" };
  });
  for (const publicKey of forgetSealed) {
    // Deleting through the Key Manager API is for good: the sealed copy goes too, or the next unseal would bring the key back.
    try {
      await ctx.sealedKeys!.delete(publicKey);
    } catch (error) {
      ctx.log.error({ publicKey, reason: (error as Error).message }, "a deleted key's sealed copy could not be removed; remove it with strongroom keys delete");
    }
  }
  const slashingProtection = await exportSlashingProtection(ctx, requested, deleted, data);
  sendJson(res, 200, { data, slashing_protection: JSON.stringify(slashingProtection) });
}

async function importSlashingProtection(ctx: SignerContext, value: unknown): Promise<void> {
  if (ctx.slashing === undefined) throw new HttpError(400, "slashing_protection cannot be imported: slashing protection is disabled in this signer");
  if (typeof value !== "string") throw new HttpError(400, '"slashing_protection" must be the EIP-3076 interchange as a JSON string');
  let interchange;
  try {
    interchange = parseInterchange(value);
  } catch (error) {
    throw new HttpError(400, `slashing_protection was not imported: ${(error as Error).message}`);
  }
  const guard = ctx.slashing;
  try {
    const summary = await guard.run(() => guard.database.importInterchange(interchange));
    ctx.log.info(summary, "slashing-protection interchange imported through the Key Manager API");
  } catch (error) {
    if (error instanceof SlashingProtectionError) throw new HttpError(400, `slashing_protection was not imported: ${error.message}`);
    throw new HttpError(503, `slashing_protection could not be imported: the database is unavailable (${(error as Error).message})`);
  }
}

/**
 * The EIP-3076 history of the deleted keys (and of requested keys that are not
 * loaded but have history: "not_active"), after disabling the deleted keys in
 * the database so that no other signer sharing it signs for them either.
 */
async function exportSlashingProtection(ctx: SignerContext, requested: string[], deleted: string[], data: DeleteStatus[]): Promise<unknown> {
  const guard = ctx.slashing;
  const root = ctx.network.genesisValidatorsRoot ?? new Uint8Array(32);
  if (guard === undefined) return interchangeToJson({ genesisValidatorsRoot: root, data: [] });
  const notFound = requested.flatMap((text, i) => (data[i]!.status === "not_found" ? [canonicalPublicKey(text)!] : []));
  try {
    if (deleted.length > 0) await guard.run(() => guard.database.setValidatorsEnabled(deleted.map(publicKeyBytes), false));
    const interchange = await guard.run(() => guard.database.exportInterchange([...deleted, ...notFound].map(publicKeyBytes)));
    const exported = new Map(interchange.data.map((v) => [toHex(v.publicKey), v]));
    requested.forEach((text, i) => {
      const history = data[i]!.status === "not_found" ? exported.get(canonicalPublicKey(text)!) : undefined;
      if (history !== undefined && history.signedBlocks.length + history.signedAttestations.length > 0) data[i] = { status: "not_active", message: "" };
    });
    // Every deleted key is in the export, with an empty history if it never signed a block or attestation.
    const missing = deleted.filter((key) => !exported.has(key)).map((key) => ({ publicKey: publicKeyBytes(key), signedBlocks: [], signedAttestations: [] }));
    return interchangeToJson({ ...interchange, data: [...interchange.data, ...missing] });
  } catch (error) {
    throw new HttpError(503, `keys were deleted but their slashing-protection history could not be exported: ${(error as Error).message}; export it with strongroom slashing export`);
  }
}

function readImportBody(body: unknown): { keystores: string[]; passwords: string[]; persist: boolean } {
  if (!isObject(body)) throw new HttpError(400, 'body must be a JSON object {"keystores": [...], "passwords": [...]}');
  const { keystores, passwords } = body;
  if (!Array.isArray(keystores) || !keystores.every((k) => typeof k === "string")) {
    throw new HttpError(400, '"keystores" must be an array of keystore JSON strings');
  }
  if (!Array.isArray(passwords) || !passwords.every((p) => typeof p === "string")) {
    throw new HttpError(400, '"passwords" must be an array of strings');
  }
  if (keystores.length !== passwords.length) {
    throw new HttpError(400, `"keystores" has ${keystores.length} entries but "passwords" has ${passwords.length}; they must pair up`);
  }
  if (keystores.length > MAX_KEYSTORES_PER_REQUEST) {
    throw new HttpError(400, `at most ${MAX_KEYSTORES_PER_REQUEST} keystores per request; split the import`);
  }
  // strongroom's extension: seal the imported keys into the vault's store so that they survive restarts.
  const persist = body["persist"] ?? false;
  if (typeof persist !== "boolean") throw new HttpError(400, '"persist" must be true or false');
  return { keystores: keystores as string[], passwords: passwords as string[], persist };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function errorMessage(error: unknown): string {
  return error instanceof KeystoreError ? error.message : "keystore could not be imported";
}
