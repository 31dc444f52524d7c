import { join, resolve } from "node:path";
import { startSimulation, type SimulatedDatabase, type Simulation } from "@strongroom/sim";
import { buildSimulatedImage, pcrManifestOf, SIMULATED_IMAGE_FILE } from "../enclave-image.ts";
import { createLogger, LOG_LEVELS } from "../logger.ts";
import { parseOptions, UsageError, type OptionTable, type OptionValues } from "../options.ts";

export const SIM_OPTIONS = [
  { name: "dir", kind: "string", default: ".sim", description: "the simulator's directory (sockets, CAs, the administrator token, slashing history, logs); a second run reuses it" },
  { name: "http-port", kind: "integer", default: 9000, max: 65535, description: "TCP port on 127.0.0.1 of the gateway your validator client talks to (0 picks a free port)" },
  { name: "demo-keys", kind: "integer", default: 8, min: 1, max: 1024, description: "how many interop demo keys to import (interop keys 0…n-1)" },
  { name: "slashing-backend", kind: "string", default: "postgres", description: "postgres (PGlite over the wire protocol, or --database-url) or dynamodb (dynalite behind a SigV4-checking front)" },
  { name: "database-url", kind: "string", description: "postgres://user@host:port/db of a PostgreSQL server to use instead of PGlite (the simulator puts TLS in front of it)" },
  { name: "credentials-lifetime-seconds", kind: "integer", default: 21_600, min: 10, max: 43_200, description: "lifetime of the parent's simulated IMDS role credentials" },
  { name: "audit-file", kind: "string", description: "make the parent record every byte it relays to this file" },
  { name: "log-level", kind: "string", default: "info", description: `log level of the enclave and the parent: one of ${LOG_LEVELS.join(", ")}` },
] as const satisfies OptionTable;

export type SimValues = OptionValues<typeof SIM_OPTIONS>;

export function readSimOptions(argv: readonly string[], env: NodeJS.ProcessEnv): SimValues {
  const values = parseOptions(SIM_OPTIONS, argv, env);
  if (!(LOG_LEVELS as readonly string[]).includes(values["log-level"])) throw new UsageError(`--log-level: "${values["log-level"]}" is not one of ${LOG_LEVELS.join(", ")}`);
  if (values["slashing-backend"] !== "postgres" && values["slashing-backend"] !== "dynamodb") throw new UsageError("--slashing-backend: give postgres or dynamodb");
  if (values["database-url"] !== undefined && (values["slashing-backend"] !== "postgres" || !/^postgres(ql)?:\/\//.test(values["database-url"]))) {
    throw new UsageError("--database-url: a postgres:// URL, with --slashing-backend=postgres");
  }
  return values;
}

function database(values: SimValues): SimulatedDatabase {
  if (values["slashing-backend"] === "dynamodb") return { kind: "dynamodb" };
  return values["database-url"] === undefined ? { kind: "pglite" } : { kind: "postgres", url: values["database-url"] };
}

/**
 * `strongroom sim`: the split system on this machine — a simulated enclave
 * (its own process, simulated vsock and NSM), the parent, the outbound
 * services behind TLS, and a gateway for validator clients — with the interop
 * demo keys imported over attested TLS.
 */
export async function runSim(values: SimValues): Promise<void> {
  // The simulator's own lines are few and say where everything is: always at least info.
  const log = createLogger(["debug", "trace"].includes(values["log-level"]) ? values["log-level"] : "info", undefined, "strongroom-sim");
  const dir = resolve(values.dir);
  const image = await buildSimulatedImage(dir);
  const simulation = await startSimulation({
    dir,
    // This same program, with the same Node flags, runs the parent, the enclave and the gateway.
    cli: [process.execPath, ...process.execArgv, process.argv[1]!],
    pcrManifest: pcrManifestOf(image.pcrs),
    gatewayPort: values["http-port"],
    demoKeys: values["demo-keys"],
    database: database(values),
    credentialLifetimeMs: values["credentials-lifetime-seconds"] * 1000,
    ...(values["audit-file"] !== undefined && { auditFile: values["audit-file"] }),
    logLevel: values["log-level"],
    log,
  });
  log.info(
    {
      gateway: simulation.gatewayUrl,
      ingress: simulation.ingressUrl,
      dir: simulation.dir,
      adminTokenFile: simulation.adminTokenFile,
      root: simulation.attestationRoot,
      pcrs: simulation.pcrManifestFile,
      image: join(dir, SIMULATED_IMAGE_FILE),
      kms: simulation.kms,
      imds: simulation.imdsUrl,
    },
    "simulation ready",
  );
  process.stderr.write(banner(simulation));
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    process.stderr.write("strongroom sim: stopping the gateway, the parent and the enclave…\n");
    void simulation.close().then(() => process.exit(0));
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}

function banner(simulation: Simulation): string {
  const url = simulation.gatewayUrl;
  const body = JSON.stringify({
    type: "RANDAO_REVEAL",
    fork_info: {
      fork: { previous_version: "0x00000000", current_version: "0x00000000", epoch: "0" },
      genesis_validators_root: "0x4b363db94e286120d76eb905340fdd4e54bfe9f06bf33ff6cf5ad27f511bfe95",
    },
    randao_reveal: { epoch: "0" },
  });
  return [
    "",
    "strongroom sim: the split system is up — gateway → parent → enclave (simulated), with the interop demo keys (public keys: never use them for real funds).",
    `  endpoint:   ${url}   (your validator client's Web3Signer URL; the gateway verifies the enclave's attested TLS)`,
    `  enclave:    ${simulation.ingressUrl} (the parent's ingress: aTLS to the enclave; root ${simulation.attestationRoot}, PCRs ${simulation.pcrManifestFile})`,
    `  network:    mainnet; slashing protection: ${simulation.databaseDescription}, reached through the parent's egress over TLS`,
    `  auth:       requests from this host need no token; management needs the administrator token in ${simulation.adminTokenFile}`,
    `  keys:       ${simulation.publicKeys.length} (GET ${url}/api/v1/eth2/publicKeys), sealed in the vault (DynamoDB) under a master key split 2 of 3 across simulated KMS keys bound to the enclave's PCR0`,
    `  vault:      strongroom operator status --simulator-dir ${simulation.dir}   (also: operator seal, operator unseal --kms, keys list)`,
    `  logs:       ${simulation.dir}/{enclave,parent,gateway}.log`,
    "",
    "Try it:",
    `  curl -s -H 'content-type: application/json' -H 'accept: application/json' \\`,
    `    -d '${body}' \\`,
    `    ${url}/api/v1/eth2/sign/${simulation.publicKeys[0]}`,
    "",
    "Validator clients (mainnet here):",
    `  Lighthouse:  validator_definitions.yml, one entry per key: type: web3signer, url: "${url}", voting_public_key: "0x…"`,
    `  Teku:        teku validator-client --validators-external-signer-url=${url} --validators-external-signer-public-keys=external-signer`,
    `  Prysm:       prysm validator --validators-external-signer-url=${url} --validators-external-signer-public-keys=${url}/api/v1/eth2/publicKeys`,
    `  Nimbus:      nimbus_validator_client --web3-signer-url=${url}`,
    `  Lodestar:    lodestar validator --externalSigner.url=${url} --externalSigner.fetch`,
    "",
    "Press Ctrl-C to stop.",
    "",
  ].join("\n");
}
