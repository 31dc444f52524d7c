import { constants, createPublicKey, publicEncrypt, randomBytes, type KeyObject } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { SecretKey } from "@chainsafe/blst";
import { toHex } from "@strongroom/eth2";
import { encryptKeystore } from "@strongroom/keystore";
import { VaultError } from "@strongroom/vault";
import { ANY } from "../auth/index.ts";
import { readJsonBody } from "../http/body.ts";
import { HttpError } from "../http/errors.ts";
import { sendJson } from "../http/respond.ts";
import type { RequestContext } from "../http/router.ts";
import { canonicalPublicKey } from "../keys/public-key.ts";
import { VAULT_KEY_SOURCE, type SealedKeys } from "../vault/sealed-keys.ts";
import type { SignerContext } from "./context.ts";

/**
 * The sealed key table under /api/v1/strongroom/keys: list, activate,
 * deactivate, delete, and generation inside the enclave. Only while
 * unsealed (503 otherwise): the table's contents mean nothing without the
 * master key.
 */

/** Generation costs a keystore encryption per key on the event loop; bounded per request. */
const MAX_GENERATE = 100;
/**
 * The backup keystores' KDF. Their passwords are 32 random bytes, so the
 * work factor is not what protects them; it is kept low so that generating
 * keys does not stall signing.
 */
const BACKUP_KDF = { function: "pbkdf2", c: 8192 } as const;
const MIN_BACKUP_RSA_BITS = 2048;

function unsealedKeys(ctx: SignerContext): SealedKeys {
  const sealed = ctx.sealedKeys;
  if (sealed === undefined) throw new HttpError(404, "this signer has no sealed key store");
  if (!sealed.unsealed) throw new HttpError(503, `the vault is ${sealed.vault.state}: unseal it first (strongroom operator unseal)`, { "retry-after": "5" });
  return sealed;
}

async function storeCall<T>(action: () => Promise<T>): Promise<T> {
  try {
    return await action();
  } catch (error) {
    if (error instanceof VaultError) throw new HttpError(error.cause !== undefined ? 503 : 409, error.message);
    throw error;
  }
}

function keyParam(ctx: SignerContext, { params, caller }: RequestContext): string {
  const publicKey = canonicalPublicKey(params[0]!);
  if (publicKey === undefined) throw new HttpError(400, `"${params[0]!.slice(0, 120)}" is not a BLS public key`);
  ctx.access.require(caller, "keymanager_write", publicKey);
  return publicKey;
}

export async function handleListSealedKeys(ctx: SignerContext, res: ServerResponse, { caller }: RequestContext): Promise<void> {
  ctx.access.require(caller, "keymanager_read", ANY);
  const sealed = unsealedKeys(ctx);
  const keys = await storeCall(() => sealed.list());
  sendJson(res, 200, {
    data: keys
      .filter((key) => ctx.access.permits(caller, "keymanager_read", `0x${key.publicKeyHex}`))
      .map((key) => ({
        public_key: `0x${key.publicKeyHex}`,
        status: key.status,
        loaded: key.loaded,
        created_at: key.createdAt,
        updated_at: key.updatedAt,
        ...(key.failure !== undefined && { failure: key.failure }),
      })),
  });
}

export async function handleSetSealedKeyStatus(ctx: SignerContext, res: ServerResponse, r: RequestContext, status: "active" | "inactive"): Promise<void> {
  const publicKey = keyParam(ctx, r);
  const sealed = unsealedKeys(ctx);
  const found = await storeCall(() => (status === "active" ? sealed.activate(publicKey) : sealed.deactivate(publicKey)));
  if (!found) throw new HttpError(404, `key ${publicKey} is not in the sealed store`);
  ctx.log.info({ publicKey, status, by: r.caller.tokenId }, "sealed key status changed");
  sendJson(res, 200, { public_key: publicKey, status, loaded: ctx.keys.get(publicKey)?.source === VAULT_KEY_SOURCE });
}

export async function handleDeleteSealedKey(ctx: SignerContext, res: ServerResponse, r: RequestContext): Promise<void> {
  const publicKey = keyParam(ctx, r);
  const sealed = unsealedKeys(ctx);
  if (!(await storeCall(() => sealed.delete(publicKey)))) throw new HttpError(404, `key ${publicKey} is not in the sealed store`);
  ctx.log.warn({ publicKey, by: r.caller.tokenId }, "sealed key deleted");
  sendJson(res, 200, { public_key: publicKey, status: "deleted" });
}

function backupKey(pem: unknown): KeyObject {
  if (typeof pem !== "string" || pem.length > 16_384) throw new HttpError(400, '"backup_public_key" must be a PEM public key (RSA, 2048 bits or more)');
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch {
    throw new HttpError(400, '"backup_public_key" is not a PEM public key');
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (key.asymmetricKeyType !== "rsa" || bits < MIN_BACKUP_RSA_BITS) throw new HttpError(400, `"backup_public_key" must be an RSA key of at least ${MIN_BACKUP_RSA_BITS} bits`);
  return key;
}

/**
 * POST /api/v1/strongroom/keys/generate {count, backup_public_key}: new keys
 * made in the enclave (EIP-2333 KeyGen from 32 OS-random bytes), sealed into
 * the store as active and loaded; the answer is each key's backup, an
 * EIP-2335 keystore whose random password is RSA-OAEP-SHA256 encrypted to
 * the operator's key, so that only the holder of that key can recover them.
 */
export async function handleGenerateKeys(ctx: SignerContext, req: IncomingMessage, res: ServerResponse, { caller }: RequestContext): Promise<void> {
  ctx.access.require(caller, "keymanager_write", ANY);
  const body = await readJsonBody(req, 64 * 1024);
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new HttpError(400, 'body must be {"count": n, "backup_public_key": "-----BEGIN PUBLIC KEY-----…"}');
  const { count, backup_public_key: pem } = body as Record<string, unknown>;
  if (typeof count !== "number" || !Number.isInteger(count) || count < 1 || count > MAX_GENERATE) throw new HttpError(400, `"count" must be an integer from 1 to ${MAX_GENERATE}`);
  const recipient = backupKey(pem);
  const sealed = unsealedKeys(ctx);
  const data = [];
  for (let i = 0; i < count; i++) {
    const ikm = randomBytes(32);
    const secretKey = SecretKey.fromKeygen(ikm).toBytes();
    ikm.fill(0);
    const password = Buffer.from(randomBytes(32).toString("hex"), "ascii");
    try {
      const keystore = encryptKeystore(secretKey, password, { kdf: BACKUP_KDF, description: "strongroom generated key (backup)" });
      const publicKey = toHex(Buffer.from(keystore.pubkey, "hex"));
      const encryptedPassword = publicEncrypt({ key: recipient, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" }, password);
      await storeCall(() => sealed.persistAndLoad(publicKey, Uint8Array.from(secretKey)));
      data.push({ public_key: publicKey, keystore, encrypted_password: encryptedPassword.toString("base64") });
      ctx.log.info({ publicKey, by: caller.tokenId }, "key generated in the enclave and sealed");
    } finally {
      secretKey.fill(0);
      password.fill(0);
    }
  }
  sendJson(res, 200, { data });
}
