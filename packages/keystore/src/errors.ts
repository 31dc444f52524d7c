/**
 * Every refusal by this package: a malformed or undecryptable keystore, a
 * wrong password, a bad key-config file. The message says what is wrong and
 * never contains secret material (no password, key or hex of either).
 */
export class KeystoreError extends Error {
  override name = "KeystoreError";
}

/** An attacker-chosen name for an error message: echoed only when short and plain. */
export function quoted(value: unknown): string {
  return typeof value === "string" && /^[\w.-]{1,40}$/.test(value) ? `"${value}"` : "(unprintable)";
}
