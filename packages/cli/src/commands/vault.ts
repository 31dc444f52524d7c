import { randomBytes } from "node:crypto";
import { secretRef } from "@strongroom/enclave";
import type { Command } from "../cli.ts";
import { clientCommand, requestCommand, type CommandValues } from "../client-command.ts";
import { groupByOperator, openHmacToken, parseCredentialSpec, SPEC_FORM, type CredentialKind, type CredentialSpec, type OperatorSpec } from "../credential-sources.ts";
import { UsageError, type OptionTable } from "../options.ts";
import { readSecretOrPrompt } from "../secrets.ts";
import { printAnswer, type SignerClient, type SignerRequest } from "../signer-client.ts";

/**
 * `strongroom operator status|init|rotate|seal|unseal`: the enclave's vault,
 * which holds the master key that seals the signing keys. Passphrases and
 * HMAC responses travel in a secret body (application/vnd.strongroom.
 * secret-body), never as JSON strings; the CLI zeroes its copies once sent.
 */

const VAULT = "/api/v1/strongroom/vault";
const HMAC_CHALLENGE_BYTES = 32;

const LAYOUT_OPTIONS = [
  { name: "kms-key", kind: "list", description: "id or ARN of a KMS key that guards one share of the master key (one share per key; the enclave unseals with them by attestation)" },
  { name: "kms-threshold", kind: "integer", min: 1, max: 255, description: "how many KMS shares unseal the vault: 2 to the number of --kms-key (1 when there is one)" },
  {
    name: "operator",
    kind: "list",
    description: `a credential of an operator who holds one share: ${SPEC_FORM}. A passphrase SOURCE is env:NAME, file:/path or prompt (typed twice, not echoed); an hmac-sha1 SOURCE is file:/path (a software token's 20-byte slot secret in 40 hex digits) or cmd:COMMAND ARGS (a helper run without a shell, the 32-byte challenge appended in hex, that prints the 20-byte response in hex, e.g. cmd:ykchalresp -2 -x). Repeat an operator id to give them another credential; operators keep the order of their first appearance. No commas in a SPEC`,
  },
  { name: "operator-threshold", kind: "integer", min: 1, max: 255, description: "how many operators' shares unseal the vault: 2 to the number of operators (1 when there is one)" },
] as const satisfies OptionTable;

type LayoutValues = CommandValues<typeof LAYOUT_OPTIONS>;

/** The JSON part of init or rotate and the secrets its references name, which the caller zeroes. */
interface Layout {
  readonly json: Record<string, unknown>;
  readonly secrets: Buffer[];
}

/** Every check of init's or rotate's options, before any secret is read. */
function checkLayout(values: LayoutValues, command: "init" | "rotate"): OperatorSpec[] {
  const operators = groupByOperator(
    values.operator.map((spec) => parseCredentialSpec(spec, "--operator")),
    "--operator",
  );
  const kmsKeys = values["kms-key"];
  const kmsThreshold = values["kms-threshold"];
  const operatorThreshold = values["operator-threshold"];
  if (command === "init") {
    if (kmsKeys.length === 0 && operators.length === 0) throw new UsageError("give --kms-key (with --kms-threshold), --operator (with --operator-threshold), or both");
    if (kmsKeys.length > 0 && kmsThreshold === undefined) throw new UsageError("--kms-threshold is required with --kms-key: how many KMS shares (one per key) unseal the vault");
    if (kmsKeys.length === 0 && kmsThreshold !== undefined) throw new UsageError("--kms-threshold: there is no --kms-key");
    if (operators.length > 0 && operatorThreshold === undefined) throw new UsageError("--operator-threshold is required with --operator: how many operators' shares unseal the vault");
    if (operators.length === 0 && operatorThreshold !== undefined) throw new UsageError("--operator-threshold: there is no --operator");
  } else {
    if (kmsKeys.length === 0 && kmsThreshold === undefined && operators.length === 0 && operatorThreshold === undefined) {
      throw new UsageError("nothing to rotate: give --kms-key and/or --kms-threshold, and/or --operator (with --operator-threshold)");
    }
    // The operator shares are re-split under the new threshold, which needs every operator's credentials.
    if (operatorThreshold !== undefined && operators.length === 0) throw new UsageError("--operator-threshold re-splits the operator shares: give every --operator with their credentials too");
  }
  return operators;
}

/** Reads the credentials (prompting, running token helpers) into the secret body's parts. */
async function readLayout(values: LayoutValues, operators: readonly OperatorSpec[], command: "init" | "rotate", env: NodeJS.ProcessEnv): Promise<Layout> {
  const secrets: Buffer[] = [];
  try {
    const operatorJson = [];
    for (const operator of operators) {
      const credentials = [];
      for (const credential of operator.credentials) credentials.push(await readCredential(credential, secrets, env));
      operatorJson.push({ id: operator.id, credentials });
    }
    const kmsKeys = values["kms-key"];
    const kmsThreshold = values["kms-threshold"];
    const operatorThreshold = values["operator-threshold"];
    // Init sends every field (a side without members has threshold 0); rotate only what changes.
    const json =
      command === "init"
        ? { kms_keys: kmsKeys, kms_threshold: kmsThreshold ?? 0, operators: operatorJson, operator_threshold: operatorThreshold ?? 0 }
        : {
            ...(kmsKeys.length > 0 && { kms_keys: kmsKeys }),
            ...(kmsThreshold !== undefined && { kms_threshold: kmsThreshold }),
            ...(operators.length > 0 && { operators: operatorJson }),
            ...(operatorThreshold !== undefined && { operator_threshold: operatorThreshold }),
          };
    return { json, secrets };
  } catch (error) {
    for (const secret of secrets) secret.fill(0);
    throw error;
  }
}

/** One credential's JSON; its secret is appended to `secrets`, which the JSON references by index. */
async function readCredential(credential: CredentialSpec, secrets: Buffer[], env: NodeJS.ProcessEnv): Promise<Record<string, unknown>> {
  const option = `--operator ${credential.operator}:${credential.kind}:${credential.credentialId}`;
  const common = { kind: credential.kind, credential_id: credential.credentialId };
  if (credential.kind === "passphrase") {
    const question = `New passphrase of operator ${credential.operator} (credential ${credential.credentialId}): `;
    secrets.push(await readSecretOrPrompt(credential.source, option, env, { question, confirm: true }));
    return { ...common, passphrase: secretRef(secrets.length - 1) };
  }
  // Registration draws the challenge here: the enclave stores it and asks for the same response at every unseal.
  const challenge = randomBytes(HMAC_CHALLENGE_BYTES);
  if (credential.source.startsWith("cmd:")) process.stderr.write(`Answering the challenge of operator ${credential.operator} (credential ${credential.credentialId}): touch the token if it asks\n`);
  const token = openHmacToken(credential.source, option, env);
  try {
    secrets.push(await token.respond(challenge));
  } finally {
    token.close();
  }
  return { ...common, challenge: challenge.toString("hex"), response: secretRef(secrets.length - 1) };
}

/** Init or rotate: check, read the credentials, send them in one secret body, zero them. */
function layoutCommand(command: "init" | "rotate", summary: string): Command {
  return clientCommand({
    summary,
    options: LAYOUT_OPTIONS,
    async run(signer, values, env) {
      const operators = checkLayout(values, command);
      signer.checkToken();
      const { json, secrets } = await readLayout(values, operators, command, env);
      try {
        await printJson(signer, { method: "POST", path: `${VAULT}/${command}`, json, secrets });
      } finally {
        for (const secret of secrets) secret.fill(0);
      }
    },
  });
}

const UNSEAL_OPTIONS = [
  { name: "kms", kind: "boolean", default: false, description: "ask the enclave to unseal with its KMS shares now (needs a token with scope manage)" },
  { name: "operator", kind: "string", description: "your operator id: adds your share toward the operator threshold (needs no token)" },
  { name: "passphrase", kind: "string", description: "your passphrase: env:NAME, file:/path or prompt (typed once, not echoed)" },
  {
    name: "hmac-sha1",
    kind: "string",
    description: "your HMAC-SHA1 token: file:/path (a software token's slot secret, 40 hex digits) or cmd:COMMAND ARGS (a helper given the challenge as last argument, e.g. cmd:ykchalresp -2 -x); the challenge is fetched from the enclave first",
  },
  { name: "credential-id", kind: "string", description: "which of your credentials of that kind, when you registered several" },
] as const satisfies OptionTable;

async function runUnseal(signer: SignerClient, values: CommandValues<typeof UNSEAL_OPTIONS>, env: NodeJS.ProcessEnv): Promise<void> {
  const operator = values.operator;
  const passphrase = values.passphrase;
  const hmac = values["hmac-sha1"];
  if (values.kms) {
    if (operator !== undefined || passphrase !== undefined || hmac !== undefined || values["credential-id"] !== undefined) {
      throw new UsageError("--kms excludes --operator, --passphrase, --hmac-sha1 and --credential-id: unseal with the KMS shares, or add an operator's share");
    }
    return printJson(signer, { method: "POST", path: `${VAULT}/unseal-kms` });
  }
  if (operator === undefined) throw new UsageError("give --operator ID with --passphrase or --hmac-sha1 (or --kms to unseal with the KMS shares)");
  if ((passphrase === undefined) === (hmac === undefined)) throw new UsageError("give one of --passphrase and --hmac-sha1: the credential to unseal with");
  const credential: UnsealCredential =
    passphrase !== undefined
      ? {
          kind: "passphrase",
          credentialId: values["credential-id"],
          secret: await readSecretOrPrompt(passphrase, "--passphrase", env, { question: `Passphrase of operator ${operator}: `, confirm: false }),
        }
      : { kind: "hmac-sha1", ...(await answerStoredChallenge(signer, operator, hmac!, values["credential-id"], env)) };
  try {
    await printJson(signer, {
      method: "POST",
      path: `${VAULT}/unseal`,
      json: { operator, kind: credential.kind, ...(credential.credentialId !== undefined && { credential_id: credential.credentialId }), secret: secretRef(0) },
      secrets: [credential.secret],
      // The credential authenticates this request: an operator in an unseal ceremony holds no token.
      token: false,
    });
  } finally {
    credential.secret.fill(0);
  }
}

interface UnsealCredential {
  readonly kind: CredentialKind;
  readonly credentialId: string | undefined;
  /** The passphrase, or the token's response to the stored challenge; zeroed once sent. */
  readonly secret: Buffer;
}

interface ListedCredential {
  readonly credential_id: string;
  readonly kind: string;
  readonly challenge?: string;
}

/** Fetches the challenge the enclave stored for the operator's HMAC-SHA1 credential and answers it with their token. */
async function answerStoredChallenge(
  signer: SignerClient,
  operator: string,
  source: string,
  wanted: string | undefined,
  env: NodeJS.ProcessEnv,
): Promise<{ credentialId: string; secret: Buffer }> {
  // Opened first, so that a bad token file fails before any request.
  const token = openHmacToken(source, "--hmac-sha1", env);
  try {
    const answer = await signer.callJson({ method: "GET", path: `${VAULT}/operators/${encodeURIComponent(operator)}/credentials`, token: false });
    const listed = (answer as { data?: unknown } | null)?.data;
    if (!Array.isArray(listed)) throw new Error("the signer's list of credentials has no data array");
    const hmacs = (listed as ListedCredential[]).filter((c) => c.kind === "hmac-sha1");
    const names = hmacs.map((c) => c.credential_id).join(", ");
    let chosen: ListedCredential | undefined;
    if (wanted !== undefined) {
      chosen = hmacs.find((c) => c.credential_id === wanted);
      if (chosen === undefined) throw new Error(`operator "${operator}" has no hmac-sha1 credential "${wanted}"${hmacs.length > 0 ? ` (theirs: ${names})` : ""}`);
    } else if (hmacs.length === 0) {
      throw new Error(`operator "${operator}" has no hmac-sha1 credential${listed.length === 0 ? " (is the id right?)" : ""}`);
    } else if (hmacs.length > 1) {
      throw new UsageError(`--credential-id: operator "${operator}" has several hmac-sha1 credentials (${names}); say which`);
    } else {
      chosen = hmacs[0]!;
    }
    const challenge = typeof chosen.challenge === "string" && /^[0-9a-fA-F]{64}$/.test(chosen.challenge) ? Buffer.from(chosen.challenge, "hex") : undefined;
    if (challenge === undefined) throw new Error(`the signer listed credential "${chosen.credential_id}" without a 32-byte hex challenge`);
    if (source.startsWith("cmd:")) process.stderr.write(`Answering the challenge of credential ${chosen.credential_id}: touch the token if it asks\n`);
    return { credentialId: chosen.credential_id, secret: await token.respond(challenge) };
  } finally {
    token.close();
  }
}

async function printJson(signer: SignerClient, call: SignerRequest): Promise<void> {
  await printAnswer(await signer.call(call));
}

const NO_OPTIONS = [] as const satisfies OptionTable;

export const VAULT_COMMANDS: Record<string, Command> = {
  status: requestCommand("Show the vault: sealed or not, its KMS keys and operators, thresholds, shares received, keys loaded.", NO_OPTIONS, [], () => ({ method: "GET", path: VAULT })),
  init: layoutCommand("init", "Initialise the vault: a new master key, split into shares for KMS keys and/or operators' credentials (once, on an empty store)."),
  rotate: layoutCommand("rotate", "Re-split the master key (unsealed vault): new KMS keys or threshold, new operators, credentials or threshold; what is not given is kept."),
  seal: requestCommand("Seal the vault now: the master key and the keys it sealed leave the enclave's memory until the next unseal.", NO_OPTIONS, [], () => ({ method: "POST", path: `${VAULT}/seal` })),
  unseal: clientCommand({
    summary: "Add an operator's share to unseal the vault (no token needed), or with --kms ask the enclave to unseal with its KMS shares.",
    details:
      "An operator gives --operator ID and their credential: --passphrase, or --hmac-sha1 (the enclave's stored challenge is fetched and answered by the token). Prints {received, threshold, state}. Wrong credentials are counted and locked out for a while (the signer answers 429 with when to try again).",
    options: UNSEAL_OPTIONS,
    run: runUnseal,
  }),
};
