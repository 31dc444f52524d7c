import type { ServerResponse } from "node:http";
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
  if (ctx.slashing !== undefined) {
    const { status, ...data } = ctx.slashing.health();
    checks.push({ id: "slashing-protection", status, data });
  }
  const status = checks.every((check) => check.status === "UP") ? "UP" : "DOWN";
  sendJson(res, status === "UP" ? 200 : 503, { status, outcome: status, checks });
}

export function handlePublicKeys(ctx: SignerContext, res: ServerResponse): void {
  sendJson(res, 200, ctx.keys.list().map((key) => key.publicKey));
}
