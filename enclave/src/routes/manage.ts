import type { IncomingMessage, ServerResponse } from "node:http";
import { AuthConfigError, AuthUnavailableError, type Policy, type TokenInfo } from "../auth/index.ts";
import { readJsonBody } from "../http/body.ts";
import { HttpError } from "../http/errors.ts";
import { sendJson } from "../http/respond.ts";
import type { RequestContext } from "../http/router.ts";
import type { SignerContext } from "./context.ts";

/**
 * The management API under /api/v1/strongroom/ (scope `manage`, checked by
 * the router): tokens and policies, and resuming signing after a canary
 * stopped it. Token secrets appear once, in the answer to their creation.
 */

const MAX_MANAGE_BODY = 1 << 20;
const TOKEN_FIELDS = new Set(["name", "policies", "expires_at"]);

const tokenJson = (t: TokenInfo) => ({
  id: t.id,
  name: t.name,
  policies: t.policies,
  created_at: t.createdAt.toISOString(),
  ...(t.expiresAt !== undefined && { expires_at: t.expiresAt.toISOString() }),
});

export function handleListTokens(ctx: SignerContext, res: ServerResponse): void {
  sendJson(res, 200, { data: storeRead(() => ctx.access.store.listTokens().map(tokenJson)) });
}

/**
 * POST /api/v1/strongroom/tokens {name, policies, expires_at?}: 201 with the
 * token. The answer is assembled as bytes around the token's bytes, which
 * are zeroed once written, so the secret never becomes a string here.
 */
export async function handleCreateToken(ctx: SignerContext, req: IncomingMessage, res: ServerResponse, { caller }: RequestContext): Promise<void> {
  const body = await readJsonBody(req, MAX_MANAGE_BODY);
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new HttpError(400, 'body must be {"name": …, "policies": […], "expires_at"?: "…Z"}');
  const fields = body as Record<string, unknown>;
  const unknown = Object.keys(fields).find((field) => !TOKEN_FIELDS.has(field));
  if (unknown !== undefined) throw new HttpError(400, `unknown field ${JSON.stringify(unknown.slice(0, 40))}; a token has name, policies and expires_at`);
  const { name, policies, expires_at: expiresAt } = fields;
  if (typeof name !== "string") throw new HttpError(400, '"name" must be a string');
  if (!Array.isArray(policies) || !policies.every((p) => typeof p === "string")) throw new HttpError(400, '"policies" must be a list of policy names');
  let expiry: Date | undefined;
  if (expiresAt !== undefined) {
    if (typeof expiresAt !== "string" || Number.isNaN(Date.parse(expiresAt))) throw new HttpError(400, '"expires_at" must be an ISO-8601 timestamp');
    expiry = new Date(expiresAt);
  }
  const created = await storeChange(() => ctx.access.store.createToken(name, policies as string[], expiry));
  const info = ctx.access.store.listTokens().find((t) => t.id === created.id)!;
  const rest = Buffer.from(JSON.stringify(tokenJson(info)).slice(1), "utf8");
  const payload = Buffer.concat([Buffer.from('{"token":"', "ascii"), created.token, Buffer.from('",', "ascii"), rest]);
  created.token.fill(0);
  ctx.log.info({ tokenId: created.id, name, policies, by: caller.tokenId }, "token created");
  res.writeHead(201, { "content-type": "application/json", "content-length": payload.length, "cache-control": "no-store" });
  res.end(payload, () => payload.fill(0));
}

export async function handleRevokeToken(ctx: SignerContext, res: ServerResponse, { params, caller }: RequestContext): Promise<void> {
  const id = params[0]!;
  let revoked: boolean;
  try {
    revoked = await ctx.access.store.revokeToken(id);
  } catch (error) {
    if (error instanceof AuthUnavailableError) throw sealedAway(error);
    ctx.log.error({ tokenId: id, err: error }, "token revoked in memory, but the auth state could not be written");
    throw new HttpError(503, `token ${id} is refused from now on, but the auth state could not be written (${(error as Error).message}): fix it and revoke again, or the token comes back when the state is next loaded`);
  }
  if (!revoked) throw new HttpError(404, `no token with id ${JSON.stringify(id.slice(0, 40))}`);
  ctx.log.info({ tokenId: id, by: caller.tokenId }, "token revoked");
  sendJson(res, 200, { id, status: "revoked" });
}

export function handleListPolicies(ctx: SignerContext, res: ServerResponse): void {
  sendJson(res, 200, { data: storeRead(() => ctx.access.store.listPolicies()) });
}

export function handleGetPolicy(ctx: SignerContext, res: ServerResponse, { params }: RequestContext): void {
  sendJson(res, 200, existingPolicy(ctx, params[0]!));
}

/** POST /api/v1/strongroom/policies: creates a policy; 409 when one of that name exists. */
export async function handleCreatePolicy(ctx: SignerContext, req: IncomingMessage, res: ServerResponse, { caller }: RequestContext): Promise<void> {
  const body = await readJsonBody(req, MAX_MANAGE_BODY);
  const name = typeof body === "object" && body !== null ? (body as Record<string, unknown>)["name"] : undefined;
  if (typeof name === "string" && storeRead(() => ctx.access.store.getPolicy(name)) !== undefined) {
    throw new HttpError(409, `a policy named "${name}" exists; change it with PUT /api/v1/strongroom/policies/${name}`);
  }
  const policy = await storeChange(() => ctx.access.store.putPolicy(body));
  ctx.log.info({ policy: policy.name, by: caller.tokenId }, "policy created");
  sendJson(res, 201, policy);
}

/** PUT /api/v1/strongroom/policies/{name}: replaces a policy's rules; tokens carrying it see the change at once. */
export async function handleUpdatePolicy(ctx: SignerContext, req: IncomingMessage, res: ServerResponse, { params, caller }: RequestContext): Promise<void> {
  const name = params[0]!;
  existingPolicy(ctx, name);
  const body = await readJsonBody(req, MAX_MANAGE_BODY);
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new HttpError(400, 'body must be {"rules": […]}');
  const named = body as Record<string, unknown>;
  if (named["name"] !== undefined && named["name"] !== name) throw new HttpError(400, `"name" in the body is not "${name}", the policy in the path`);
  const policy = await storeChange(() => ctx.access.store.putPolicy({ ...named, name }));
  ctx.log.info({ policy: name, by: caller.tokenId }, "policy updated");
  sendJson(res, 200, policy);
}

/** DELETE /api/v1/strongroom/policies/{name}: 409 while a token carries it. */
export async function handleDeletePolicy(ctx: SignerContext, res: ServerResponse, { params, caller }: RequestContext): Promise<void> {
  const name = params[0]!;
  existingPolicy(ctx, name);
  try {
    await ctx.access.store.deletePolicy(name);
  } catch (error) {
    if (error instanceof AuthConfigError) throw new HttpError(409, error.message);
    throw stateUnwritable(error);
  }
  ctx.log.info({ policy: name, by: caller.tokenId }, "policy deleted");
  sendJson(res, 200, { name, status: "deleted" });
}

/** GET /api/v1/strongroom/signing: whether signing is on, or stopped by a canary. */
export function handleSigningState(ctx: SignerContext, res: ServerResponse): void {
  const stoppedBy = ctx.canary.stoppedBy;
  sendJson(res, 200, stoppedBy === undefined ? { state: "enabled" } : { state: "stopped", stopped_by_canary: stoppedBy });
}

/** POST /api/v1/strongroom/signing/resume: lets signing go on after a canary stopped it. */
export function handleResumeSigning(ctx: SignerContext, res: ServerResponse, { caller }: RequestContext): void {
  const was = ctx.canary.resume(caller.tokenId);
  sendJson(res, 200, { state: "enabled", ...(was !== undefined && { was_stopped_by_canary: was }) });
}

function existingPolicy(ctx: SignerContext, name: string): Policy {
  const policy = storeRead(() => ctx.access.store.getPolicy(name));
  if (policy === undefined) throw new HttpError(404, `no policy named ${JSON.stringify(name.slice(0, 64))}`);
  return policy;
}

/** Runs a store change: a refused change is a 400 naming the field, a state that cannot be written (or is sealed) a 503. */
async function storeChange<T>(change: () => Promise<T>): Promise<T> {
  try {
    return await change();
  } catch (error) {
    if (error instanceof AuthConfigError) throw new HttpError(400, error.message);
    throw stateUnwritable(error);
  }
}

/** A read of the store: 503 while its tokens and policies are sealed away. */
function storeRead<T>(read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof AuthUnavailableError) throw sealedAway(error);
    throw error;
  }
}

/** The store is detached (its vault sealed): 503, saying what to do. */
function sealedAway(error: AuthUnavailableError): HttpError {
  return new HttpError(503, `${error.message}; unseal the vault first`);
}

function stateUnwritable(error: unknown): HttpError {
  if (error instanceof AuthUnavailableError) return sealedAway(error);
  return new HttpError(503, `the auth state could not be written (${(error as Error).message}); nothing was changed`);
}
