/**
 * Every refusal by this package: bad Shamir parameters or shares, an
 * envelope that does not open, short randomness. The message says what is
 * wrong and never contains secret material (no key, share value or plaintext,
 * nor any hex of them); share indices and lengths are public and may appear.
 */
export class VaultError extends Error {
  override name = "VaultError";
}

/** Another writer changed the stored signer state first: re-read it and retry. */
export class VaultConflictError extends VaultError {
  override name = "VaultConflictError";
}
