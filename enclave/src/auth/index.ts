/**
 * Authentication and authorisation: tokens, policies and the token store.
 * No HTTP here; pipeline/access.ts applies it to requests.
 *
 * Tokens
 *   `sr_` + base64url(32 random bytes). The store keeps only
 *   HMAC-SHA256(server secret, token) (the token's ASCII bytes), looks tokens
 *   up by the HMAC's hex in a Map and confirms with crypto.timingSafeEqual.
 *   Accepted as `Authorization: Bearer <token>` or `Authorization: Basic
 *   base64(<username>:<token>)` (username ignored, may be empty).
 *
 * Policies
 *   A named list of allow/deny rules. Every rule names four dimensions:
 *   scopes, keys (canonical 0x-hex public keys), operations (Web3Signer
 *   signing types) and cidrs (IPv4/IPv6 blocks; IPv4 and IPv4-mapped IPv6
 *   are one address space), each a non-empty list or "*". A rule applies to
 *   a request when all four match; "*" matches anything, an absent key or
 *   operation included, while a list matches only a present value on it
 *   (so `allow keys:[K] scopes:"*"` does not grant `manage`, and `deny
 *   keys:[K]` does not refuse `metrics`). Across all the policies of a
 *   token: any applying deny refuses; else any applying allow permits; else
 *   refused. The `unauthenticated` policy, when configured (TokenStore.open's
 *   `unauthenticated` option; never stored, never managed through the API),
 *   is what a request without credentials gets (e.g. a loopback-only
 *   deployment: allow with cidrs ["127.0.0.0/8", "::1"]); wrong credentials
 *   never fall back to it. ANY stands for a key or operation not known yet,
 *   for pre-checks before a request's body is read.
 *
 * Use
 *   const store = TokenStore.open(path, serverSecret, { unauthenticated }); // creates or loads
 *   // or TokenStore.inMemory(secret, …), or TokenStore.detached(reason, …) then
 *   // attach(secret, backend, where) / detach(reason) (an enclave's vault)
 *   const boot = await store.bootstrapIfEmpty();          // show boot.token (bytes) once, never log
 *   const auth = store.authenticate(req.headers.authorization, new Date());
 *   // "ok" | "anonymous" → evaluate(auth.policies, { scope, publicKey, operation, sourceAddress })
 *   // "missing" | "invalid" → 401; evaluate(...).allowed === false → 403
 *   // store.reauthenticate(tokenId) re-checks a token accepted earlier on a connection.
 *
 *   TokenStore: await createToken(name, policyNames, expiresAt?) → { id, token: bytes } (shown once),
 *   listTokens(), await revokeToken(id), await putPolicy(json), await deletePolicy(name)
 *   (refused while a token uses it), listPolicies(), getPolicy(name). Changes
 *   run one at a time; with a shared backend a change that lost a race is
 *   applied again to the winner's state. A detached store throws
 *   AuthUnavailableError from these and answers "unavailable" to tokens.
 *
 * State file (JSON, mode 0600, written by temp file + fsync + rename + dir fsync):
 *   { format: "strongroom-auth-state", version: 1, secretCheck, bootstrapped,
 *     policies: Policy[], tokens: [{ id, name, hmac, policies, createdAt, expiresAt? }] }
 *   secretCheck = HMAC(server secret, constant), so a wrong secret is reported
 *   on load rather than as every token being "unknown". Loading refuses a
 *   file readable by group/others, and names the field at fault otherwise.
 */
export { AuthConfigError } from "./errors.ts";
export { parseAddress, parseCidr, cidrContains, type Cidr } from "./cidr.ts";
export {
  SCOPES,
  OPERATIONS,
  UNAUTHENTICATED_POLICY,
  ANY,
  parsePolicy,
  evaluate,
  allowEverything,
  isPolicyName,
  type Scope,
  type Operation,
  type Effect,
  type PolicyRule,
  type Policy,
  type AccessRequest,
  type Decision,
} from "./policy.ts";
export {
  TOKEN_PREFIX,
  TOKEN_LENGTH,
  MAX_AUTHORIZATION_LENGTH,
  generateToken,
  hasTokenShape,
  readAuthorization,
  parseAuthorization,
  type ParsedAuthorization,
} from "./token.ts";
export {
  TokenStore,
  AuthUnavailableError,
  writeFileAtomic,
  STATE_FORMAT,
  STATE_VERSION,
  MIN_SERVER_SECRET_BYTES,
  BOOTSTRAP_POLICY,
  BOOTSTRAP_TOKEN_NAME,
  CONFIGURED_ADMINISTRATOR_ID,
  type TokenInfo,
  type CreatedToken,
  type InvalidCredentials,
  type StoreOptions,
  type Authentication,
  type AuthStateBackend,
  type AuthStateDocument,
} from "./store.ts";
