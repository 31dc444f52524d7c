import type { AwsCredentials } from "@strongroom/parent";
import type { ImdsSimulator } from "@strongroom/sim";

/** Whether the simulated AWS would take these credentials now: issued by its store, same secret and token, not expired. */
export function accepted(imds: ImdsSimulator, credentials: AwsCredentials): boolean {
  const issued = imds.store.lookup(credentials.accessKeyId);
  return issued !== undefined && issued.secretAccessKey === credentials.secretAccessKey && issued.sessionToken === credentials.sessionToken && Date.now() < issued.expiration.getTime();
}
