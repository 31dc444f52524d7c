// The enclave's vault and its stores, reached the way every outbound client
// of the enclave is: through the parent's egress streams with TLS run here
// against the real server name (OutboundOptions), and the parent's forwarded
// AWS credentials. KMS calls carry the NSM's attestation documents.
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { KMSClient } from "@aws-sdk/client-kms";
import { createAttestedKms } from "@strongroom/kms";
import type { NsmClient } from "@strongroom/nitro";
import { outboundRequestHandler, parseDynamoLocation, type OutboundOptions } from "@strongroom/slashing";
import { Vault, VaultStore } from "@strongroom/vault";
import type { Logger } from "pino";

export interface VaultLocation {
  /** dynamodb://PREFIX?region=…[&endpoint=https://…]: tables PREFIX-keys and PREFIX-state. */
  readonly url: string;
  /** KMS endpoint (https://…) instead of the region's (the simulator's); the region is the URL's or the bootstrap's. */
  readonly kmsEndpoint?: string;
}

export interface OpenedVault {
  readonly vault: Vault;
  readonly store: VaultStore;
  close(): void;
}

const REQUEST_TIMEOUT_MS = 30_000;

export async function openEnclaveVault(location: VaultLocation, nsm: NsmClient, outbound: OutboundOptions, region: string | undefined, log: Logger): Promise<OpenedVault> {
  const where = parseDynamoLocation(new URL(location.url), "vault database URL");
  if (where.endpoint?.protocol === "http:") throw new Error("vault database URL: the endpoint must be https://; the enclave talks to DynamoDB only over verified TLS");
  const awsRegion = where.region ?? region;
  if (awsRegion === undefined) throw new Error("vault database URL: no region (give ?region= or run the parent with --aws-region)");
  const common = {
    region: awsRegion,
    requestHandler: outboundRequestHandler(outbound, REQUEST_TIMEOUT_MS),
    ...(outbound.awsCredentials !== undefined && { credentials: outbound.awsCredentials }),
  };
  const dynamo = new DynamoDBClient({ ...common, ...(where.endpoint !== undefined && { endpoint: where.endpoint.href }) });
  const kmsClient = new KMSClient({ ...common, ...(location.kmsEndpoint !== undefined && { endpoint: location.kmsEndpoint }) });
  const close = () => {
    dynamo.destroy();
    kmsClient.destroy();
  };
  try {
    const store = new VaultStore({ client: dynamo, keysTable: `${where.table}-keys`, stateTable: `${where.table}-state`, requestTimeoutMs: REQUEST_TIMEOUT_MS });
    await store.ensureTables();
    const vault = await Vault.open({
      store,
      kms: createAttestedKms({ client: kmsClient, attest: (publicKey) => nsm.attestation({ publicKey }) }),
      nsmRandom: () => nsm.getRandom(),
      log: log.child({ component: "vault" }),
    });
    log.info({ keysTable: store.keysTable, stateTable: store.stateTable, state: vault.state }, "vault opened");
    return { vault, store, close };
  } catch (error) {
    close();
    throw error;
  }
}
