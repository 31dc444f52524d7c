import type { IncomingMessage, ServerResponse } from "node:http";
import { interchangeToJson, SlashingProtectionError } from "@strongroom/slashing";
import { HttpError } from "../http/errors.ts";
import { sendJson } from "../http/respond.ts";
import type { RequestContext } from "../http/router.ts";
import { canonicalPublicKey, publicKeyBytes } from "../keys/public-key.ts";
import type { SignerContext } from "./context.ts";
import { permittedKeys } from "./health.ts";

/**
 * GET /api/v1/strongroom/slashing-protection[?pubkeys=0x…,0x…]: the EIP-3076
 * interchange of the named keys (each needs scope slashing_export), or of
 * every loaded key the caller may export. Reading history does not change it,
 * so this is safe to run against a live signer (for backups or a migration).
 */
export async function handleExportSlashingProtection(ctx: SignerContext, req: IncomingMessage, res: ServerResponse, { caller }: RequestContext): Promise<void> {
  const guard = ctx.slashing;
  if (guard === undefined) throw new HttpError(404, "slashing protection is disabled in this signer: there is no history to export");
  const listed = new URL(req.url ?? "/", "http://signer").searchParams.get("pubkeys");
  let keys: string[];
  if (listed === null) {
    keys = permittedKeys(ctx, caller, "slashing_export").map((key) => key.publicKey);
  } else {
    keys = listed.split(",").map((text) => {
      const key = canonicalPublicKey(text.trim());
      if (key === undefined) throw new HttpError(400, `pubkeys: "${text.slice(0, 120)}" is not a BLS public key`);
      ctx.access.require(caller, "slashing_export", key);
      return key;
    });
  }
  let interchange;
  try {
    interchange = await guard.run(() => guard.database.exportInterchange(keys.map(publicKeyBytes)));
  } catch (error) {
    if (error instanceof SlashingProtectionError) throw new HttpError(409, error.message);
    throw new HttpError(503, `the slashing-protection database is unavailable: ${(error as Error).message}; retry shortly`, { "retry-after": "1" });
  }
  sendJson(res, 200, interchangeToJson(interchange));
}
