import type { IncomingMessage, ServerResponse } from "node:http";
import { parseSigningRequest, SigningRequestError } from "@strongroom/eth2";
import { readJsonBody } from "../http/body.ts";
import { HttpError } from "../http/errors.ts";
import { sendSignature } from "../http/respond.ts";
import { canonicalPublicKey } from "../keys/public-key.ts";
import { ANY } from "../auth/index.ts";
import { checkNetwork } from "../pipeline/network-guard.ts";
import type { RequestContext } from "../http/router.ts";
import type { SignerContext } from "./context.ts";

/**
 * POST /api/v1/eth2/sign/{identifier}: the pipeline of DESIGN.md §4, as far as
 * this mode has it. The router has admitted (backpressure) and authenticated
 * the request; the policy is checked for the key before the body is read, and
 * for the signing type once the body says it.
 */
export async function handleSign(ctx: SignerContext, req: IncomingMessage, res: ServerResponse, { params, info, caller }: RequestContext): Promise<void> {
  const started = performance.now();
  const identifier = params[0]!;
  const publicKey = canonicalPublicKey(identifier);
  if (publicKey === undefined) {
    throw new HttpError(400, `identifier "${identifier.slice(0, 120)}" is not a BLS public key: expected 48 bytes of hex, with or without 0x`);
  }
  info.publicKey = publicKey;
  // Before the policy and the body: a stolen token probing for keys, or a malformed request, trips it too.
  ctx.canary.observe(publicKey, caller.tokenId);
  ctx.canary.checkSigningAllowed();
  ctx.access.require(caller, "sign", publicKey, ANY);
  const body = await readJsonBody(req, ctx.limits.signBytes);

  let request;
  try {
    request = parseSigningRequest(body, ctx.network);
  } catch (error) {
    if (error instanceof SigningRequestError) throw new HttpError(400, error.message);
    throw error;
  }

  info.type = request.type;
  ctx.access.require(caller, "sign", publicKey, request.type);
  checkNetwork(ctx.network, request.genesisValidatorsRoot);

  if (ctx.sealedKeys !== undefined && !ctx.sealedKeys.unsealed) {
    const status = ctx.sealedKeys.status();
    throw new HttpError(503, `the vault is ${status.state}${status.reason === undefined ? "" : ` (${status.reason})`}: no key can sign until it is unsealed`, { "retry-after": "5" });
  }
  if (ctx.keys.get(publicKey) === undefined) {
    const loading = ctx.keyLoading();
    if (!loading.done) {
      throw new HttpError(503, `key ${publicKey} is not loaded yet: ${loading.loaded} of ${loading.total} keys loaded so far; retry shortly`, { "retry-after": "1" });
    }
    throw new HttpError(404, `no key with public key ${publicKey} is loaded in this signer`);
  }

  if (request.slashing !== undefined && ctx.slashing !== undefined) {
    const outcome = await ctx.slashing.check(publicKey, request, request.slashing);
    if (outcome.kind === "refused") throw new HttpError(412, outcome.message);
    if (outcome.kind === "unavailable") throw new HttpError(503, outcome.message, { "retry-after": "1" });
  }

  let signature: Uint8Array;
  try {
    signature = await ctx.keys.sign(publicKey, request.signingRoot);
  } catch (error) {
    ctx.log.error({ err: error, publicKey }, "signing failed");
    throw new HttpError(503, "signing is unavailable: the signing workers failed; the signer must be restarted");
  }
  sendSignature(req, res, `0x${Buffer.from(signature).toString("hex")}`);
  ctx.metrics.observeSigning(request.type, (performance.now() - started) / 1000);
}
