// The parent's AWS credentials, as it forwards them over the control channel
// and refreshes them before they expire. They are the parent's, not the
// enclave's secrets — the parent holds them anyway — but they are never logged.
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from "@smithy/types";
import type { AwsCredentials } from "@strongroom/control";

export class ForwardedCredentials {
  #current: AwsCredentialIdentity | undefined;
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  update(credentials: AwsCredentials): void {
    this.#current = {
      accessKeyId: credentials.accessKeyId,
      secretAccessKey: credentials.secretAccessKey,
      ...(credentials.sessionToken !== undefined && { sessionToken: credentials.sessionToken }),
      ...(credentials.expiration !== undefined && { expiration: new Date(credentials.expiration) }),
    };
  }

  /** When the current credentials expire, for health reports. */
  expiration(): Date | undefined {
    return this.#current?.expiration;
  }

  /** For the AWS SDK clients: the latest credentials, or a clear failure (the call then fails closed). */
  readonly provider: AwsCredentialIdentityProvider = async () => {
    const current = this.#current;
    if (current === undefined) throw new Error("no AWS credentials yet: the parent forwards them over the control channel after bootstrap");
    if (current.expiration !== undefined && current.expiration.getTime() <= this.#now()) {
      throw new Error(`the AWS credentials the parent forwarded expired at ${current.expiration.toISOString()}; the parent has not refreshed them (check its log)`);
    }
    return current;
  };
}
