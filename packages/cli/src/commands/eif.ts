import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import {
  BlobsError,
  buildEif,
  CHECKOUT_ROOT,
  DEFAULT_BLOBS_DIR,
  EIF_MAX_BYTES,
  enclaveRootfs,
  enclaveStatements,
  keyAdministrationStatement,
  keyPolicy,
  pcrManifest,
  readEif,
  sourceDateEpoch,
  writeRootfs,
  type EifPcrs,
  type KeyPolicyStatement,
} from "@strongroom/eif";
import type { Command } from "../dispatch.ts";
import { readFileBounded } from "../files.ts";
import { parseOptions, UsageError, type OptionTable } from "../options.ts";
import { readEnclaveOptions } from "./enclave.ts";

const ENCLAVE_ARG_OPTION = {
  name: "enclave-arg",
  kind: "list",
  verbatim: true,
  description: "an option of `strongroom enclave` baked into the image's command (measured), e.g. --enclave-arg=--slashing-protection-db-url=postgres://signer@db.internal:5432/slashing; one per flag, commas kept",
} as const;
const ENCLAVE_CONFIG_OPTION = {
  name: "enclave-config",
  kind: "string",
  description: "a YAML file of `strongroom enclave` options, baked into the image (measured) at /app/enclave.yaml and named by its command",
} as const;
const NODE_OPTION = { name: "node", kind: "string", description: "the Node.js binary of the image [default: the one running this command, the pinned toolchain under make]" } as const;

const BUILD_OPTIONS = [
  { name: "blobs", kind: "string", default: DEFAULT_BLOBS_DIR, description: "aws-nitro-enclaves-cli's blobs directory: bzImage, bzImage.config, cmdline, init, nsm.ko" },
  { name: "out", kind: "string", description: "where to write the EIF" },
  { name: "sign-cert", kind: "string", description: "PEM certificate of an EC P-384 key to sign the image with (PCR8 then measures it); with --sign-key" },
  { name: "sign-key", kind: "string", description: "PEM private key of --sign-cert" },
  ENCLAVE_ARG_OPTION,
  ENCLAVE_CONFIG_OPTION,
  NODE_OPTION,
] as const satisfies OptionTable;

const ROOTFS_OPTIONS = [{ name: "out", kind: "string", description: "an empty or absent directory to write the root filesystem into" }, ENCLAVE_CONFIG_OPTION, NODE_OPTION] as const satisfies OptionTable;

const POLICY_OPTIONS = [
  { name: "kms-key-arn", kind: "string", description: "ARN of the vault's KMS key the statements are for (their Resource); run once per key" },
  { name: "role-arn", kind: "string", description: "ARN of the parent instance's IAM role, which may use the key only from these images" },
  { name: "account", kind: "string", description: "12-digit account whose root (that is, its IAM administrators) may administer the key: adds a KeyAdministration statement, making the statements a whole key policy" },
  { name: "out-policy", kind: "string", description: "also write the key policy document ({\"Version\":…,\"Statement\":[…]}) to this file" },
  { name: "out-manifest", kind: "string", description: "also write the PCR manifest (for --pcrs of the gateway and the CLI) to this file" },
] as const satisfies OptionTable;

const MIB = 1024 * 1024;
/** Certificates, keys and configuration files are far smaller; a larger one is a wrong path. */
const MAX_INPUT_BYTES = MIB;
const KMS_KEY_ARN = /^arn:(aws[a-z-]*):kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/;
const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/;

function readText(path: string, option: string): string {
  return readFileBounded(path, MAX_INPUT_BYTES, option).toString("utf8");
}

/** The enclave's command line as the image would run it, checked now so that a bad configuration fails the build, not the boot. */
function checkEnclaveConfiguration(args: readonly string[], configPath: string | undefined): void {
  try {
    // The build machine's STRONGROOM_* variables are not the enclave's: check with none.
    readEnclaveOptions(["--mode=nitro", ...(configPath === undefined ? [] : ["--config", configPath]), ...args], {});
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    throw new UsageError(`--enclave-arg/--enclave-config: the enclave would refuse to start with this configuration (give its options as --enclave-arg=--NAME=VALUE or in --enclave-config FILE): ${error.message}`);
  }
}

/** SOURCE_DATE_EPOCH, or the checkout's last commit time; not knowing it is a usage error. */
function imageEpoch(env: NodeJS.ProcessEnv): number {
  try {
    return sourceDateEpoch(env, CHECKOUT_ROOT);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function readEifFile(path: string): ReturnType<typeof readEif> {
  const bytes = readFileBounded(path, EIF_MAX_BYTES, "the EIF");
  try {
    return readEif(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (error) {
    throw new Error(`${path}: ${(error as Error).message}`);
  }
}

const mib = (bytes: number) => `${(bytes / MIB).toFixed(1)} MiB`;

export const EIF_COMMANDS: Record<string, Command> = {
  build: {
    summary: "Build the enclave image (EIF) reproducibly from this checkout, without Docker; prints its PCRs as a manifest.",
    details:
      "The same commit, blobs, Node.js binary, shared libraries and enclave options give the same bytes, hence the same PCRs, wherever they are built; the file times and the metadata's build time are SOURCE_DATE_EPOCH (default: the last commit's time). stdout is a PCR manifest ({\"PCR0\":…}); sizes and timings go to stderr.",
    options: BUILD_OPTIONS,
    async run(argv, env) {
      const values = parseOptions(BUILD_OPTIONS, argv, env);
      if (values.out === undefined) throw new UsageError("--out: required; where to write the EIF");
      if ((values["sign-cert"] === undefined) !== (values["sign-key"] === undefined)) throw new UsageError("--sign-cert and --sign-key: give both to sign the image, or neither");
      const configPath = values["enclave-config"];
      checkEnclaveConfiguration(values["enclave-arg"], configPath);
      const epoch = imageEpoch(env);
      const result = await buildEif({
        blobsDir: resolve(values.blobs),
        out: resolve(values.out),
        sourceDateEpoch: epoch,
        enclaveArgs: values["enclave-arg"],
        ...(configPath !== undefined && { enclaveConfig: new Uint8Array(readFileBounded(configPath, MAX_INPUT_BYTES, "--enclave-config")) }),
        ...(values["sign-cert"] !== undefined && { signer: { certificatePem: readText(values["sign-cert"], "--sign-cert"), keyPem: readText(values["sign-key"]!, "--sign-key") } }),
        ...(values.node !== undefined && { nodeBinary: resolve(values.node) }),
      }).catch((error: unknown) => {
        throw error instanceof BlobsError ? new UsageError(`--blobs: ${error.message}`) : error;
      });
      const { sizes, timings } = result;
      process.stderr.write(
        `strongroom eif build: wrote ${values.out} (${mib(sizes.eif)}; application ramdisk ${mib(sizes.applicationRamdisk)} gzipped from ${mib(sizes.applicationRamdiskUncompressed)}) in ${(timings.total / 1000).toFixed(1)} s\n`,
      );
      process.stdout.write(`${JSON.stringify(result.pcrs, null, 2)}\n`);
    },
  },
  pcr: {
    summary: "Print an EIF's PCRs (PCR8 when signed, after its signature verified) and its metadata, as JSON.",
    options: [],
    positionals: ["file"],
    async run(argv, env) {
      const file = parseOptions([], argv, env, ["file"]).positionals[0]!;
      const eif = readEifFile(file);
      // As the file has it, with AWS's field names (readEif checked it is the JSON nitro-cli reads).
      const metadata: unknown = JSON.parse(Buffer.from(eif.metadata).toString("utf8"));
      process.stdout.write(`${JSON.stringify({ ...eif.pcrs, metadata }, null, 2)}\n`);
    },
  },
  policy: {
    summary: "Print the KMS key policy statements that let a role use a vault key only from these images, and their PCR manifest, as JSON.",
    details:
      "One statement per image (give the old and the new image during a rolling upgrade, then only the new one): each allows kms:Decrypt and kms:GenerateDataKey only with a Recipient attestation document whose ImageSha384, PCR0, PCR1, PCR2 (and PCR8 when signed) are that image's. Merge the statements into each vault key's policy, or with --account use them as the whole policy.",
    options: POLICY_OPTIONS,
    positionals: ["file..."],
    async run(argv, env) {
      const values = parseOptions(POLICY_OPTIONS, argv, env, ["file..."]);
      const keyArn = values["kms-key-arn"];
      const roleArn = values["role-arn"];
      const partition = keyArn === undefined ? undefined : KMS_KEY_ARN.exec(keyArn)?.[1];
      if (keyArn === undefined || partition === undefined) throw new UsageError("--kms-key-arn: required, arn:aws:kms:<region>:<account>:key/<key id>");
      if (roleArn === undefined || !ROLE_ARN.test(roleArn)) throw new UsageError("--role-arn: required, arn:aws:iam::<account>:role/<name> (the parent instance's role)");
      const account = values.account;
      if (account !== undefined && !/^\d{12}$/.test(account)) throw new UsageError("--account: expected a 12-digit AWS account id");
      const images: EifPcrs[] = values.positionals.map((file) => readEifFile(file).pcrs);
      const keyPolicyStatements: KeyPolicyStatement[] = [
        ...(account === undefined ? [] : [keyAdministrationStatement(`arn:${partition}:iam::${account}:root`)]),
        ...enclaveStatements(roleArn, images, keyArn),
      ];
      const manifest = pcrManifest(images);
      if (values["out-policy"] !== undefined) writeFileSync(values["out-policy"], `${keyPolicy(keyPolicyStatements)}\n`);
      if (values["out-manifest"] !== undefined) writeFileSync(values["out-manifest"], `${JSON.stringify(manifest, null, 2)}\n`);
      process.stdout.write(`${JSON.stringify({ keyPolicyStatements, pcrManifest: manifest }, null, 2)}\n`);
    },
  },
  rootfs: {
    summary: "Write the enclave's root filesystem (Node.js, its libraries, the bundled program) into a directory, for eif/Dockerfile; prints the command the image must run.",
    options: ROOTFS_OPTIONS,
    async run(argv, env) {
      const values = parseOptions(ROOTFS_OPTIONS, argv, env);
      const out = values.out;
      if (out === undefined) throw new UsageError("--out: required; the directory to write the root filesystem into");
      if (existsSync(out) && readdirSync(out).length > 0) throw new UsageError(`--out: ${out} is not empty; give an empty or absent directory`);
      const configPath = values["enclave-config"];
      checkEnclaveConfiguration([], configPath);
      const epoch = imageEpoch(env);
      const rootfs = await enclaveRootfs({
        checkout: CHECKOUT_ROOT,
        ...(configPath !== undefined && { enclaveConfig: new Uint8Array(readFileBounded(configPath, MAX_INPUT_BYTES, "--enclave-config")) }),
        ...(values.node !== undefined && { nodeBinary: resolve(values.node) }),
      });
      writeRootfs(rootfs, resolve(out), epoch);
      process.stdout.write(`${JSON.stringify({ cmd: rootfs.cmd, env: rootfs.env })}\n`);
    },
  },
};
