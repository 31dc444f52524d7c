import type { ServerResponse } from "node:http";
import { ANY, type Scope } from "../auth/index.ts";
import type { RequestContext } from "../http/router.ts";
import type { KeyInfo } from "../keys/registry.ts";
import type { Caller } from "../pipeline/access.ts";
import { sendJson, sendText } from "../http/respond.ts";
import type { SignerContext } from "./context.ts";

export function handleUpcheck(res: ServerResponse): void {
  sendText(res, 200, "OK");
}

/**
 * GET /healthcheck, shaped like Web3Signer's: 200 once every key source has
 * been read and every key loaded and the slashing database answers; 503 while
 * loading, when a key failed (an operator must notice a validator that will
 * silently miss its duties) or while the slashing database is unreachable.
 */
export function handleHealthcheck(ctx: SignerContext, res: ServerResponse): void {
  const loading = ctx.keyLoading();
  const keysStatus = !loading.done ? "LOADING" : loading.failed > 0 ? "DOWN" : "UP";
  const checks: { id: string; status: string; data: unknown }[] = [
    {
      id: "keys-check",
      status: keysStatus,
      data: { total: loading.total, loaded: loading.loaded, failed: loading.failed, done: loading.done, active: ctx.keys.size },
    },
  ];
  if (ctx.sealedKeys !== undefined) {
    const vault = ctx.sealedKeys.status();
    checks.push({
      id: "vault",
      status: ctx.sealedKeys.unsealed && !vault.keys.loading && vault.keys.failed.length === 0 ? "UP" : "DOWN",
      data: { state: vault.state, ...(vault.reason !== undefined && { reason: vault.reason }), loaded: vault.keys.loaded, loading: vault.keys.loading, failed: vault.keys.failed.length },
    });
  }
  if (ctx.slashing !== undefined) {
    const { status, ...data } = ctx.slashing.health();
    checks.push({ id: "slashing-protection", status, data });
  }
  const status = checks.every((check) => check.status === "UP") ? "UP" : "DOWN";
  sendJson(res, status === "UP" ? 200 : 503, { status, outcome: status, checks });
}

/** GET /api/v1/eth2/publicKeys: only the keys the caller may sign with. */
export function handlePublicKeys(ctx: SignerContext, res: ServerResponse, { caller }: RequestContext): void {
  sendJson(res, 200, permittedKeys(ctx, caller, "public_keys").map((key) => key.publicKey));
}

/**
 * The loaded keys on which the caller holds `scope`; a 403 when it holds it
 * on no key at all (so a monitoring token learns it has the wrong token,
 * while a validator client whose keys are not loaded yet gets an empty list).
 */
export function permittedKeys(ctx: SignerContext, caller: Caller, scope: Scope): KeyInfo[] {
  ctx.access.require(caller, scope, ANY);
  return ctx.keys.list().filter((key) => ctx.access.permits(caller, scope, key.publicKey));
}
