// What the vault needs outside the simulated enclave, set up the way a
// platform team would on AWS: a KMS (the simulator, checking SigV4 and
// attestation documents against the simulated NSM's root) with three keys
// whose policy lets the instance role use them only with a Recipient from
// the enclave image's PCR0 — no Encrypt, no plaintext data keys — and
// DynamoDB tables for the sealed keys and the signer state.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { Agent } from "node:https";
import { join } from "node:path";
import { CreateKeyCommand, KMSClient, PutKeyPolicyCommand } from "@aws-sdk/client-kms";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { enclaveKeyPolicy } from "@strongroom/eif";
import { SIMULATED_ROLE_ARN } from "@strongroom/nitro";
import type { ImdsSimulator } from "./imds/index.ts";
import { startKmsSimulator } from "./kms/index.ts";
import type { ServiceCa } from "./service-ca.ts";

export const SIMULATED_KMS_KEYS = 3;
export const SIMULATED_KMS_THRESHOLD = 2;
const KEYS_FILE = "kms-keys.json";
const ISSUE_FOR_MS = 10 * 60_000;

export interface SimulatedKms {
  readonly url: string;
  readonly port: number;
  /** The three key ids, the same on every run of one simulator directory. */
  readonly keyIds: readonly string[];
  close(): Promise<void>;
}

/**
 * Starts the KMS simulator (state in `<dir>/kms`), creates the three keys on
 * the first run, and (re)applies their policy for the current image's PCR0,
 * as an operator does when deploying a new image.
 */
export async function startSimulatedKms(options: { dir: string; ca: ServiceCa; imds: ImdsSimulator; region: string; attestationRoot: string; pcr0Hex: string }): Promise<SimulatedKms> {
  const { dir, ca, imds, region } = options;
  const simulator = await startKmsSimulator({ dir: join(dir, "kms"), ca, names: ["localhost"], region, lookup: (id) => imds.store.lookup(id), attestationRoot: options.attestationRoot });
  const agent = new Agent({ ca: ca.certificatePem, keepAlive: false });
  // As the instance role, with credentials from the simulated IMDS's store.
  const client = () => {
    const { accessKeyId, secretAccessKey, sessionToken } = imds.store.issue(SIMULATED_ROLE_ARN, ISSUE_FOR_MS);
    return new KMSClient({
      endpoint: simulator.url,
      region,
      credentials: { accessKeyId, secretAccessKey, sessionToken },
      maxAttempts: 1,
      requestHandler: new NodeHttpHandler({ httpsAgent: agent }),
    });
  };
  try {
    const policy = enclaveKeyPolicy(SIMULATED_ROLE_ARN, options.pcr0Hex);
    const kms = client();
    try {
      const file = join(dir, KEYS_FILE);
      let keyIds: string[];
      if (existsSync(file)) {
        keyIds = JSON.parse(readFileSync(file, "utf8")) as string[];
        for (const keyId of keyIds) await kms.send(new PutKeyPolicyCommand({ KeyId: keyId, Policy: policy }));
      } else {
        keyIds = [];
        for (let i = 0; i < SIMULATED_KMS_KEYS; i++) {
          const created = await kms.send(new CreateKeyCommand({ Policy: policy, Description: `strongroom simulated vault key ${i + 1}` }));
          keyIds.push(created.KeyMetadata!.Arn!);
        }
        writeFileSync(file, `${JSON.stringify(keyIds)}\n`);
      }
      return {
        url: simulator.url,
        port: simulator.port,
        keyIds,
        async close() {
          await simulator.close();
          agent.destroy();
        },
      };
    } finally {
      kms.destroy();
    }
  } catch (error) {
    await simulator.close();
    agent.destroy();
    throw error;
  }
}
