/**
 * How the enclave reaches its database: not by opening sockets itself (it has
 * no network) but through byte streams to the parent's egress proxies, with
 * TLS run here over them, verified against the real server name. Standard
 * mode passes nothing and connects directly.
 */
import type { AwsCredentialIdentityProvider } from "@smithy/types";
import type { Duplex } from "node:stream";

export interface OutboundOptions {
  /** Opens a byte stream that reaches host:port (an egress proxy); rejects with a clear error when none does. */
  readonly connect: (host: string, port: number) => Promise<Duplex>;
  /** PEM roots that server certificates must chain to, instead of Node's bundled ones (the simulator's service CA). */
  readonly ca?: readonly string[];
  /** AWS credentials for DynamoDB (forwarded by the parent, refreshed before they expire). */
  readonly awsCredentials?: AwsCredentialIdentityProvider;
}
