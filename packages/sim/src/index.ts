/**
 * The local Nitro simulator. Its outbound services over TLS: the service CA,
 * a TLS front for PostgreSQL (and raw TCP) and a SigV4-checking HTTPS front
 * for AWS services. See README.md.
 */
export { loadOrCreateServiceCa, type ServerCertificate, type ServiceCa } from "./service-ca.ts";
export { startTlsFront, type TlsFront, type TlsFrontOptions } from "./tls-front.ts";
export * from "./iam/index.ts";
export * from "./imds/index.ts";
export { startAwsFront, type AwsFront, type AwsFrontOptions, type AwsRejection } from "./aws-front.ts";
export type { AwsCredentialRecord, CredentialLookup } from "./sigv4-verifier.ts";
export { startSimulation, type SimulatedDatabase, type Simulation, type SimulationOptions } from "./simulation.ts";
export { startKmsSimulator, KMS_STATE_FILE, type KmsCredentialLookup, type KmsSimulator, type KmsSimulatorOptions } from "./kms/index.ts";
