import type { IncomingMessage } from "node:http";
import { timingSafeEqual } from "node:crypto";
import type { Socket } from "node:net";
import { ANY, evaluate, parseAddress, type Authentication, type InvalidCredentials, type Policy, type Scope, type TokenStore } from "../auth/index.ts";
import { HttpError } from "../http/errors.ts";
import { peerAddress } from "../http/peer.ts";

/** Who is asking: the token (or the unauthenticated policy) and the connection's peer address. */
export interface Caller {
  /** The token's id (public); undefined for a request served by the unauthenticated policy. */
  readonly tokenId: string | undefined;
  readonly policies: readonly Policy[];
  readonly address: string;
  /** The address as 16 bytes (undefined if it is not an IP address, which no rule matches). */
  readonly parsedAddress: Uint8Array | undefined;
}

/** The credentials a connection last authenticated with, as bytes. */
const sessions = new WeakMap<Socket, { header: Buffer; tokenId: string }>();

function remember(socket: Socket, header: string, tokenId: string): void {
  const previous = sessions.get(socket);
  if (previous === undefined) socket.once("close", () => sessions.get(socket)?.header.fill(0));
  else previous.header.fill(0);
  sessions.set(socket, { header: Buffer.from(header, "latin1"), tokenId });
}

/** Parsed once per connection: keep-alive clients send many requests from one address. */
const parsedAddresses = new WeakMap<Socket, Uint8Array | undefined>();

/** The caller of a request on an open route: no policies. */
export function openCaller(req: IncomingMessage): Caller {
  return { tokenId: undefined, policies: [], ...peer(req.socket) };
}

function peer(socket: Socket): { address: string; parsedAddress: Uint8Array | undefined } {
  const address = peerAddress(socket);
  if (!parsedAddresses.has(socket)) parsedAddresses.set(socket, parseAddress(address, true));
  return { address, parsedAddress: parsedAddresses.get(socket) };
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
    const auth = this.credentials(req);
    switch (auth.kind) {
      case "ok":
        return { tokenId: auth.tokenId, policies: auth.policies, ...peer(req.socket) };
      case "anonymous":
        return { tokenId: undefined, policies: auth.policies, ...peer(req.socket) };
      case "missing":
        this.onRefused("missing");
        throw new HttpError(401, "this endpoint needs a token: send `Authorization: Bearer sr_…` (or HTTP Basic with the token as the password)", CHALLENGE);
      case "invalid":
        this.onRefused(auth.code);
        throw new HttpError(401, `the token was refused: ${auth.reason}; ask an operator for a valid token`, CHALLENGE);
    }
  }

  /**
   * A keep-alive connection sends the same Authorization header with every
   * request; its bytes are kept (as bytes, zeroed when the connection
   * closes) so that a repeat costs a constant-time comparison instead of an
   * HMAC. The token is still looked up by id every time, so revocation,
   * expiry and policy changes apply to the very next request.
   */
  private credentials(req: IncomingMessage): Authentication {
    const header = req.headers.authorization;
    if (header === undefined) return this.store.authenticate(header);
    const session = sessions.get(req.socket);
    if (session !== undefined && session.header.length === Buffer.byteLength(header, "latin1")) {
      const presented = Buffer.from(header, "latin1");
      const same = timingSafeEqual(presented, session.header);
      presented.fill(0);
      if (same) return this.store.reauthenticate(session.tokenId);
    }
    const auth = this.store.authenticate(header);
    if (auth.kind === "ok") remember(req.socket, header, auth.tokenId);
    return auth;
  }

  /**
   * Whether the caller's policies allow `scope` on `publicKey` (a key, ANY, or
   * absent for scopes that concern no key) for `operation`.
   */
  permits(caller: Caller, scope: Scope, publicKey?: string | typeof ANY, operation?: string | typeof ANY): boolean {
    return this.decide(caller, scope, publicKey, operation).allowed;
  }

  /** As permits, but a refusal is a 403 HttpError naming the token and what its policies do not allow. */
  require(caller: Caller, scope: Scope, publicKey?: string | typeof ANY, operation?: string | typeof ANY): void {
    const decision = this.decide(caller, scope, publicKey, operation);
    if (decision.allowed) return;
    this.onRefused("forbidden");
    const who = caller.tokenId === undefined ? "a request without a token" : `token ${caller.tokenId}`;
    throw new HttpError(403, `${who} may not do this: ${decision.reason}`);
  }

  private decide(caller: Caller, scope: Scope, publicKey: string | typeof ANY | undefined, operation: string | typeof ANY | undefined) {
    return evaluate(caller.policies, { scope, publicKey, operation, sourceAddress: caller.address, parsedSourceAddress: caller.parsedAddress });
  }
}
