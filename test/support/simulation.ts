// `strongroom sim` as a real process tree (the orchestrator, the parent, the
// simulated enclave, the gateway), for whole-system tests.
import { mkdtempSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Agent } from "node:https";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { startCli, type CliProcess } from "./cli-process.ts";

export interface RunningSimulation {
  readonly cli: CliProcess;
  readonly dir: string;
  /** The gateway: plain HTTP, as a validator client uses it. */
  readonly gatewayUrl: string;
  /** The parent's ingress: attested TLS to the enclave. */
  readonly ingressUrl: string;
  readonly adminToken: string;
  readonly root: string;
  readonly pcrManifest: string;
  /** The KMS simulator's endpoint and the vault's three key ARNs. */
  readonly kms: { readonly url: string; readonly keyIds: readonly string[] };
  /** The DynamoDB front's endpoint (the vault's tables). */
  readonly dynamoUrl: string;
  /** SDK settings as the instance role (credentials from the IMDSv2 simulator), TLS verified against the service CA. */
  awsClientConfig(endpoint: string): Promise<{ endpoint: string; region: string; credentials: { accessKeyId: string; secretAccessKey: string; sessionToken: string }; requestHandler: NodeHttpHandler; maxAttempts: number }>;
  /** `strongroom …` against this simulation's enclave (its dir gives the URL, root, PCRs and token). */
  operator(args: readonly string[], env?: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }>;
  /** The simulator directory's log file, read now. */
  logLines(file: "enclave.log" | "parent.log" | "gateway.log", msg: string): Record<string, unknown>[];
  pid(of: "enclave" | "parent"): number;
  stop(): Promise<number | null>;
}

/** Starts a simulation in a fresh short directory (Unix socket paths are limited to 107 bytes). */
export async function startSimulation(args: readonly string[] = []): Promise<RunningSimulation> {
  const dir = mkdtempSync("/tmp/srsim-");
  const cli = startCli(["sim", `--dir=${dir}`, "--http-port=0", ...args]);
  const line = (await cli.waitForOutput(/^\{.*"msg":"simulation ready".*$/m, 240_000))[0];
  const ready = JSON.parse(line) as { gateway: string; ingress: string; adminTokenFile: string; root: string; pcrs: string; kms: { url: string; keyIds: string[] }; imds: string };
  const dynamoUrl = /vault-db-url: "dynamodb:\/\/[^?]+\?[^"]*endpoint=(https:\/\/[^"&]+)/.exec(readFileSync(join(dir, "enclave.yaml"), "utf8"))![1]!;
  return {
    cli,
    dir,
    gatewayUrl: ready.gateway,
    ingressUrl: ready.ingress,
    adminToken: readFileSync(ready.adminTokenFile, "utf8").trim(),
    root: ready.root,
    pcrManifest: ready.pcrs,
    kms: ready.kms,
    dynamoUrl,
    async awsClientConfig(endpoint) {
      return {
        endpoint,
        region: "us-east-1",
        credentials: await imdsCredentials(ready.imds),
        requestHandler: new NodeHttpHandler({ httpsAgent: new Agent({ ca: readFileSync(join(dir, "services-ca.pem")) }) }),
        maxAttempts: 1,
      };
    },
    async operator(args, env = {}) {
      const run = startCli([...args, `--simulator-dir=${dir}`], env);
      const code = await run.exited();
      return { code, stdout: run.stdout(), stderr: run.stderr() };
    },
    logLines(file, msg) {
      return readFileSync(join(dir, file), "utf8")
        .split("\n")
        .filter((text) => text.includes(`"msg":"${msg}"`))
        .map((text) => JSON.parse(text) as Record<string, unknown>);
    },
    pid(of) {
      return Number.parseInt(readFileSync(join(dir, `${of}.pid`), "utf8"), 10);
    },
    stop: () => cli.stop(),
  };
}

/** The instance role's credentials, the way the parent gets them: an IMDSv2 token, then the role's credentials. */
async function imdsCredentials(imds: string): Promise<{ accessKeyId: string; secretAccessKey: string; sessionToken: string }> {
  const token = await (await fetch(`${imds}/latest/api/token`, { method: "PUT", headers: { "x-aws-ec2-metadata-token-ttl-seconds": "600" } })).text();
  const headers = { "x-aws-ec2-metadata-token": token };
  const role = (await (await fetch(`${imds}/latest/meta-data/iam/security-credentials/`, { headers })).text()).trim();
  const credentials = (await (await fetch(`${imds}/latest/meta-data/iam/security-credentials/${role}`, { headers })).json()) as { AccessKeyId: string; SecretAccessKey: string; Token: string };
  return { accessKeyId: credentials.AccessKeyId, secretAccessKey: credentials.SecretAccessKey, sessionToken: credentials.Token };
}
