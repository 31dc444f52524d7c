// Test support for the simulator's AWS endpoints, shared by the simulator's
// own tests and by the packages tested against it (kms, vault): real SDK
// clients that verify TLS against the service CA under the endpoint's real
// name, and a KMS simulator with a simulated NSM and credentials for a role.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { Agent } from "node:https";
import type { LookupFunction } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KMSClient } from "@aws-sdk/client-kms";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { loadOrCreateSimulatedCa, SimulatedNsm, type ApplicationFile } from "@strongroom/nitro";
import { loadOrCreateServiceCa, SimulatedCredentialStore, startKmsSimulator, type IssuedCredentials, type KmsSimulator, type ServiceCa } from "../../src/index.ts";

const HOUR = 3600_000;
const DAY = 24 * HOUR;

/** DNS never resolves the simulator's names; the egress maps them to loopback, and so does this lookup (for `name` alone). */
export function loopbackLookup(name: string): LookupFunction {
  return (hostname, options, callback) => {
    if (hostname !== name) callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND" }), "", 4);
    else if (options.all) callback(null, [{ address: "127.0.0.1", family: 4 }]);
    else callback(null, "127.0.0.1", 4);
  };
}

/** An HTTPS agent that trusts the service CA and reaches `name` on loopback. */
export function loopbackAgent(ca: ServiceCa, name: string): Agent {
  return new Agent({ ca: ca.certificatePem, lookup: loopbackLookup(name) });
}

export interface SdkCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string | undefined;
}

/** The configuration of an AWS SDK client against a simulator endpoint: one attempt, unless told otherwise, over `loopbackAgent`. */
export function sdkClientConfig(options: {
  readonly endpoint: string;
  readonly region: string;
  readonly credentials: SdkCredentials;
  readonly ca: ServiceCa;
  readonly name: string;
  readonly maxAttempts?: number | undefined;
  readonly requestHandler?: NodeHttpHandler | undefined;
}) {
  const { accessKeyId, secretAccessKey, sessionToken } = options.credentials;
  return {
    endpoint: options.endpoint,
    region: options.region,
    credentials: { accessKeyId, secretAccessKey, sessionToken },
    maxAttempts: options.maxAttempts ?? 1,
    requestHandler: options.requestHandler ?? new NodeHttpHandler({ httpsAgent: loopbackAgent(options.ca, options.name) }),
  };
}

/** The SDK's error for a request (with the name it gives the service's error code), or a throw if the request succeeded. */
export async function failure(promise: Promise<unknown>): Promise<Error & { $metadata?: { httpStatusCode?: number } }> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error("the request succeeded");
}

export interface AttestedKmsFixtureOptions {
  /** The prefix of the temporary directory everything lives in. */
  readonly tmpPrefix: string;
  readonly region: string;
  readonly accountId: string;
  /** The KMS endpoint's name. */
  readonly name: string;
  /** The role the credentials are issued for (for an hour). */
  readonly role: string;
  /** The genuine image the simulated NSM measures. */
  readonly applicationFiles: ApplicationFile[];
  /** The simulator's identity policy, which may depend on the genuine image's PCR0 (lower-case hex). */
  readonly identityPolicy: (pcr0Hex: string) => string;
}

export interface AttestedKmsFixture {
  readonly root: string;
  /** The simulated NSMs' directory (its root CA is the simulator's attestation root). */
  readonly simDir: string;
  readonly ca: ServiceCa;
  readonly simulator: KmsSimulator;
  readonly credentials: IssuedCredentials;
  readonly genuine: SimulatedNsm;
  readonly pcr0Hex: string;
  /** A new KMS client for the role, against the simulator (over `requestHandler` if given). */
  kmsClient(requestHandler?: NodeHttpHandler): KMSClient;
  /** Closes the simulator and removes the directory. */
  close(): Promise<void>;
}

/**
 * A KMS simulator (under a service CA) whose attestation root is a simulated
 * NSM CA, a simulated NSM running the genuine image, and credentials for the
 * role from a simulated credential store.
 */
export async function startAttestedKmsFixture(options: AttestedKmsFixtureOptions): Promise<AttestedKmsFixture> {
  const root = mkdtempSync(join(tmpdir(), options.tmpPrefix));
  try {
    const simDir = join(root, "nsm");
    // The root is dated well back, so that an NSM whose clock is days behind can still issue under it.
    const nsmRoot = loadOrCreateSimulatedCa(simDir, { now: () => new Date(Date.now() - 30 * DAY) });
    const genuine = await SimulatedNsm.create({ simDir, applicationFiles: options.applicationFiles });
    const pcr0Hex = Buffer.from(genuine.measurements.pcr0).toString("hex");
    const ca = loadOrCreateServiceCa(join(root, "ca"));
    const store = new SimulatedCredentialStore();
    const credentials = store.issue(options.role, HOUR);
    const simulator = await startKmsSimulator({
      dir: join(root, "kms"),
      ca,
      names: [options.name],
      region: options.region,
      accountId: options.accountId,
      lookup: (id) => store.lookup(id),
      attestationRoot: readFileSync(nsmRoot.rootCertificatePath, "utf8"),
      identityPolicy: options.identityPolicy(pcr0Hex),
    });
    return {
      root,
      simDir,
      ca,
      simulator,
      credentials,
      genuine,
      pcr0Hex,
      kmsClient: (requestHandler) => new KMSClient(sdkClientConfig({ endpoint: simulator.url, region: options.region, credentials, ca, name: options.name, requestHandler })),
      async close() {
        await simulator.close();
        rmSync(root, { recursive: true, force: true });
      },
    };
  } catch (error) {
    rmSync(root, { recursive: true, force: true });
    throw error;
  }
}
