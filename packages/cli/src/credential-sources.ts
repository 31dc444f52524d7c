import { spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import { UsageError } from "./options.ts";
import { checkSecretOrPrompt, readSecret } from "./secrets.ts";

/**
 * Where an operator's vault credentials come from on the command line:
 * `OPERATOR_ID:KIND:CREDENTIAL_ID=SOURCE` specs for init and rotate, and
 * the two kinds of source — a passphrase (env:, file: or prompt) and an
 * HMAC-SHA1 challenge-response token (a software token's slot secret in a
 * file, or a helper program for a hardware token such as a YubiKey).
 */

export const CREDENTIAL_KINDS = ["passphrase", "hmac-sha1"] as const;
export type CredentialKind = (typeof CREDENTIAL_KINDS)[number];

export interface CredentialSpec {
  readonly operator: string;
  readonly kind: CredentialKind;
  readonly credentialId: string;
  /** Checked: env:, file: or prompt for a passphrase; file: or cmd: for hmac-sha1. */
  readonly source: string;
}

export interface OperatorSpec {
  readonly id: string;
  readonly credentials: readonly CredentialSpec[];
}

export const SPEC_FORM = "OPERATOR_ID:passphrase:CREDENTIAL_ID=SOURCE or OPERATOR_ID:hmac-sha1:CREDENTIAL_ID=SOURCE";
const HMAC_SOURCE_FORM = "file:/path (a software token: its 20-byte slot secret as 40 hex digits) or cmd:COMMAND ARGS (a helper given the challenge as its last argument, e.g. cmd:ykchalresp -2 -x)";
/** Printable, no spaces: ids appear in logs, status and error messages. */
const ID = /^[\x21-\x7e]{1,128}$/;

/**
 * Parses one spec. Only the part before "=" is ever quoted in an error: the
 * source might be a secret typed there by mistake.
 */
export function parseCredentialSpec(text: string, option: string): CredentialSpec {
  const equals = text.indexOf("=");
  if (equals === -1) throw new UsageError(`${option}: expected ${SPEC_FORM}; this one has no "=SOURCE"`);
  const head = text.slice(0, equals);
  const source = text.slice(equals + 1);
  const parts = head.split(":");
  const shown = JSON.stringify(head.slice(0, 200));
  const [operator, kind, credentialId] = parts;
  if (parts.length !== 3 || operator === undefined || kind === undefined || credentialId === undefined) {
    throw new UsageError(`${option}: ${shown}=… is not ${SPEC_FORM}`);
  }
  if (!ID.test(operator) || !ID.test(credentialId)) throw new UsageError(`${option}: in ${shown}, the operator and credential ids must be 1 to 128 printable characters without spaces`);
  if (!(CREDENTIAL_KINDS as readonly string[]).includes(kind)) throw new UsageError(`${option}: in ${shown}, "${kind.slice(0, 40)}" is not a credential kind (${CREDENTIAL_KINDS.join(" or ")})`);
  if (kind === "passphrase") checkSecretOrPrompt(source, `${option} ${head}`);
  else checkHmacSource(source, `${option} ${head}`);
  return { operator, kind: kind as CredentialKind, credentialId, source };
}

/** Specs grouped by operator, operators in order of first appearance; a credential id given twice for an operator is refused. */
export function groupByOperator(specs: readonly CredentialSpec[], option: string): OperatorSpec[] {
  const operators = new Map<string, CredentialSpec[]>();
  for (const spec of specs) {
    const credentials = operators.get(spec.operator) ?? [];
    if (credentials.some((c) => c.credentialId === spec.credentialId)) {
      throw new UsageError(`${option}: operator "${spec.operator}" has credential "${spec.credentialId}" twice; each credential of an operator needs its own id`);
    }
    operators.set(spec.operator, [...credentials, spec]);
  }
  return [...operators].map(([id, credentials]) => ({ id, credentials }));
}

function checkHmacSource(source: string, option: string): void {
  if (source.startsWith("file:") && source.length > 5) return;
  if (source.startsWith("cmd:") && helperArgv(source).length > 0) return;
  throw new UsageError(`${option}: an hmac-sha1 source is ${HMAC_SOURCE_FORM}; never the secret itself`);
}

/** An HMAC-SHA1 challenge-response token, as YubiKeys' OTP applet implements it. */
export interface HmacToken {
  /** HMAC-SHA1(slot secret, challenge): 20 bytes the caller zeroes. */
  respond(challenge: Uint8Array): Promise<Buffer>;
  /** Forgets a software token's slot secret. */
  close(): void;
}

const HMAC_SHA1_BYTES = 20;
/** A hardware token may wait for a touch; a helper silent for this long is stopped. */
const HELPER_TIMEOUT_MS = 120_000;
/** Far more than 40 hex digits and a newline. */
const MAX_HELPER_OUTPUT = 4096;

/** The token `source` names; a software token's secret is read (and checked) now, so that a bad file fails before any request. */
export function openHmacToken(source: string, option: string, env: NodeJS.ProcessEnv): HmacToken {
  checkHmacSource(source, option);
  if (source.startsWith("cmd:")) {
    const argv = helperArgv(source);
    return { respond: (challenge) => runHelper(argv, challenge, option), close: () => {} };
  }
  const text = readSecret(source, option, env);
  const secret = decodeHex(text, HMAC_SHA1_BYTES);
  text.fill(0);
  // The message never quotes the file: it is the secret.
  if (secret === undefined) throw new UsageError(`${option}: the software token's file must hold its slot secret as 40 hex digits`);
  return {
    respond: async (challenge) => createHmac("sha1", secret).update(challenge).digest(),
    close: () => void secret.fill(0),
  };
}

/** Run without a shell: the words of the command, split on spaces. */
function helperArgv(source: string): string[] {
  return source
    .slice(4)
    .split(" ")
    .filter((word) => word !== "");
}

/** Runs a token's helper with the challenge (64 hex digits) as its last argument; its stdout is the response in hex. */
function runHelper(argv: readonly string[], challenge: Uint8Array, option: string): Promise<Buffer> {
  const [command, ...args] = argv as [string, ...string[]];
  // stdin and stderr stay the terminal's: the helper may ask for a PIN or say "touch the key".
  const child = spawn(command, [...args, Buffer.from(challenge).toString("hex")], { stdio: ["inherit", "pipe", "inherit"] });
  const output = Buffer.alloc(MAX_HELPER_OUTPUT);
  let length = 0;
  let overflow = false;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill();
  }, HELPER_TIMEOUT_MS);
  child.stdout.on("data", (chunk: Buffer) => {
    if (length + chunk.length > output.length) overflow = true;
    else length += chunk.copy(output, length);
    chunk.fill(0);
  });
  return new Promise<Buffer>((resolve, reject) => {
    child.once("error", (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new Error(`${option}: cannot run ${command}: ${error.code ?? error.message}`));
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      try {
        if (timedOut) throw new Error(`${option}: ${command} did not answer within ${HELPER_TIMEOUT_MS / 1000} s`);
        if (code !== 0) throw new Error(`${option}: ${command} ${signal !== null ? `was stopped by ${signal}` : `exited with status ${code}`}`);
        if (overflow) throw new Error(`${option}: ${command} wrote more than ${MAX_HELPER_OUTPUT} bytes; expected the response as 40 hex digits`);
        let end = length;
        while (end > 0 && (output[end - 1] === 0x0a || output[end - 1] === 0x0d || output[end - 1] === 0x20)) end--;
        const response = decodeHex(output.subarray(0, end), HMAC_SHA1_BYTES);
        if (response === undefined) throw new Error(`${option}: ${command} must write the response as 40 hex digits`);
        resolve(response);
      } catch (error) {
        reject(error);
      } finally {
        output.fill(0);
      }
    });
  });
}

/** Hex text (bytes) to `bytes` bytes, without making a string of either; undefined unless it is exactly that many in hex. */
function decodeHex(text: Uint8Array, bytes: number): Buffer | undefined {
  if (text.length !== 2 * bytes) return undefined;
  const decoded = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) {
    const high = nibble(text[2 * i]!);
    const low = nibble(text[2 * i + 1]!);
    if (high < 0 || low < 0) {
      decoded.fill(0);
      return undefined;
    }
    decoded[i] = (high << 4) | low;
  }
  return decoded;
}

function nibble(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const lower = c | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x57 : -1;
}
