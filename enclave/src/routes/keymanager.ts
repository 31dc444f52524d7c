import type { IncomingMessage, ServerResponse } from "node:http";
import { toHex } from "@strongroom/eth2";
import { blsPublicKey, KeystoreError, parseKeystore, type Keystore } from "@strongroom/keystore";
import { readJsonBody } from "../http/body.ts";
import { HttpError } from "../http/errors.ts";
import { sendJson } from "../http/respond.ts";
import { canonicalPublicKey } from "../keys/public-key.ts";
import type { SignerContext } from "./context.ts";

/** Bounds the work one import request can demand (each keystore may cost a 256 MiB scrypt). */
const MAX_KEYSTORES_PER_REQUEST = 1000;

type ImportStatus = { status: "imported" | "duplicate" | "error"; message: string };
type DeleteStatus = { status: "deleted" | "not_active" | "not_found" | "error"; message: string };

/** GET /eth/v1/keystores */
export function handleListKeystores(ctx: SignerContext, res: ServerResponse): void {
  sendJson(res, 200, {
    data: ctx.keys.list().map((key) => ({
      validating_pubkey: key.publicKey,
      derivation_path: key.derivationPath,
      readonly: key.readonly,
    })),
  });
}

/**
 * POST /eth/v1/keystores: imports are memory-only, decrypted in parallel on
 * the keystore pool, and reported per keystore in request order.
 */
export async function handleImportKeystores(ctx: SignerContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await readJsonBody(req, ctx.limits.keymanagerBytes);
  const { keystores, passwords } = readImportBody(body);
  if (isObject(body) && body["slashing_protection"] !== undefined) {
    ctx.log.warn("Key Manager import carried slashing_protection data; this signer has no slashing database yet, so it was not imported");
  }
  const results = await Promise.all(keystores.map((text, i) => importOne(ctx, text, passwords[i]!)));
  sendJson(res, 200, { data: results });
}

async function importOne(ctx: SignerContext, keystoreText: string, password: string): Promise<ImportStatus> {
  let keystore: Keystore;
  try {
    keystore = parseKeystore(keystoreText);
  } catch (error) {
    return { status: "error", message: errorMessage(error) };
  }
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
  const added = ctx.keys.add(
    { publicKey, source: "keymanager", readonly: false, derivationPath: keystore.path ?? "" },
    secretKey,
  );
  if (!added) return { status: "duplicate", message: `key ${publicKey} is already loaded` };
  ctx.log.info({ publicKey }, "key imported through the Key Manager API (memory only)");
  return { status: "imported", message: "" };
}

/** DELETE /eth/v1/keystores */
export async function handleDeleteKeystores(ctx: SignerContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await readJsonBody(req, ctx.limits.keymanagerBytes);
  if (!isObject(body) || !Array.isArray(body["pubkeys"]) || !body["pubkeys"].every((p) => typeof p === "string")) {
    throw new HttpError(400, 'body must be {"pubkeys": ["0x…", …]}');
  }
  const requested = body["pubkeys"] as string[];
  const deleted: string[] = [];
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
    ctx.log.info({ publicKey }, "key deleted through the Key Manager API");
    return { status: "deleted", message: "" };
  });
  sendJson(res, 200, { data, slashing_protection: JSON.stringify(emptyInterchange(ctx, deleted)) });
}

/** EIP-3076 interchange for the deleted keys; empty histories until a slashing database exists. */
function emptyInterchange(ctx: SignerContext, publicKeys: string[]): unknown {
  const root = ctx.network.genesisValidatorsRoot;
  return {
    metadata: {
      interchange_format_version: "5",
      genesis_validators_root: `0x${root === undefined ? "00".repeat(32) : Buffer.from(root).toString("hex")}`,
    },
    data: publicKeys.map((pubkey) => ({ pubkey, signed_blocks: [], signed_attestations: [] })),
  };
}

function readImportBody(body: unknown): { keystores: string[]; passwords: string[] } {
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
  return { keystores: keystores as string[], passwords: passwords as string[] };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function errorMessage(error: unknown): string {
  return error instanceof KeystoreError ? error.message : "keystore could not be imported";
}
