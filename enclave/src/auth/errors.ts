/**
 * A policy, token request or state file that is not acceptable. The message
 * names the field or file at fault and never contains a secret.
 */
export class AuthConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AuthConfigError";
  }
}
