import type { IncomingMessage } from "node:http";
import { ANY, evaluate, type InvalidCredentials, type Policy, type Scope, type TokenStore } from "../auth/index.ts";
import { HttpError } from "../http/errors.ts";

/** Who is asking: the token (or the unauthenticated policy) and the connection's peer address. */
export interface Caller {
  /** The token's id (public); undefined for a request served by the unauthenticated policy. */
  readonly tokenId: string | undefined;
  readonly policies: readonly Policy[];
  readonly address: string;
}

/** Why a request was refused, as counted in `strongroom_auth_refusals_total{reason}`. */
export type AuthRefusal = "missing" | InvalidCredentials | "forbidden";

const CHALLENGE = { "www-authenticate": 'Bearer realm="strongroom", Basic realm="strongroom"' };

/**
 * Step 2 of the pipeline (DESIGN.md §4): authentication (401) and policy
 * (403). Authentication is one HMAC and a map lookup; a policy decision is a
 * walk over the token's rules. Neither touches the disk.
 */
export class AccessControl {
  readonly store: TokenStore;
  private readonly onRefused: (reason: AuthRefusal) => void;

  constructor(store: TokenStore, onRefused: (reason: AuthRefusal) => void = () => undefined) {
    this.store = store;
    this.onRefused = onRefused;
  }

  /** The caller of a request, or a 401 HttpError. Reasons never quote the credentials. */
  authenticate(req: IncomingMessage): Caller {
    const address = req.socket.remoteAddress ?? "";
    const auth = this.store.authenticate(req.headers.authorization);
    switch (auth.kind) {
      case "ok":
        return { tokenId: auth.tokenId, policies: auth.policies, address };
      case "anonymous":
        return { tokenId: undefined, policies: auth.policies, address };
      case "missing":
        this.onRefused("missing");
        throw new HttpError(401, "this endpoint needs a token: send `Authorization: Bearer sr_…` (or HTTP Basic with the token as the password)", CHALLENGE);
      case "invalid":
        this.onRefused(auth.code);
        throw new HttpError(401, `the token was refused: ${auth.reason}; ask an operator for a valid token`, CHALLENGE);
    }
  }

  /**
   * Whether the caller's policies allow `scope` on `publicKey` (a key, ANY, or
   * absent for scopes that concern no key) for `operation`.
   */
  permits(caller: Caller, scope: Scope, publicKey?: string | typeof ANY, operation?: string | typeof ANY): boolean {
    return evaluate(caller.policies, { scope, publicKey, operation, sourceAddress: caller.address }).allowed;
  }

  /** As permits, but a refusal is a 403 HttpError naming the token and what its policies do not allow. */
  require(caller: Caller, scope: Scope, publicKey?: string | typeof ANY, operation?: string | typeof ANY): void {
    const decision = evaluate(caller.policies, { scope, publicKey, operation, sourceAddress: caller.address });
    if (decision.allowed) return;
    this.onRefused("forbidden");
    const who = caller.tokenId === undefined ? "a request without a token" : `token ${caller.tokenId}`;
    throw new HttpError(403, `${who} may not do this: ${decision.reason}`);
  }
}
