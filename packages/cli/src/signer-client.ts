import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createAtlsDispatcher } from "@strongroom/atls";
import { encodeSecretBody, SECRET_BODY_MEDIA_TYPE } from "@strongroom/enclave";
import { request, type Dispatcher } from "undici";
import { ALLOW_DEBUG_OPTION, readManifestPolicy, ROOT_OPTION } from "./attestation-options.ts";
import { readRootCertificateFile } from "./files.ts";
import { UsageError, type OptionTable, type OptionValues } from "./options.ts";
import { readSecret } from "./secrets.ts";

/**
 * The client side of a signer's HTTP API for the commands that manage it
 * (`operator …`, `keys …`): where it is, which token to present, and — for
 * an enclave — which attested-TLS peer to trust. With --pcrs every request
 * goes through an aTLS dispatcher, which verifies the enclave's attestation
 * before a byte is written; without it, plain HTTP(S) to a standard-mode
 * signer, as before.
 */

const DEFAULT_URL = "http://127.0.0.1:9000";
const DEFAULT_TOKEN = "env:STRONGROOM_OPERATOR_TOKEN";

/** The files `strongroom sim` keeps in its directory, which --simulator-dir reads. */
const SIMULATOR_FILES = { pcrs: "pcrs.json", root: "attestation-root.pem", token: "admin-token", url: "ingress-url" } as const;

// --url and --token have no table default: a default would hide whether they were given, and given ones win over --simulator-dir.
export const CONNECTION_OPTIONS = [
  { name: "url", kind: "string", description: `the signer's API; with --pcrs, https://HOST:PORT of the parent's ingress [default: ${DEFAULT_URL}]` },
  { name: "token", kind: "string", description: `env:NAME or file:/path holding a token with the scope the request needs [default: ${DEFAULT_TOKEN}]` },
  { name: "pcrs", kind: "string", description: "PCR manifest (JSON) of the enclave images to trust: requests then go over attested TLS, verified before anything is sent" },
  { ...ROOT_OPTION, description: `${ROOT_OPTION.description} (with --pcrs)` },
  { ...ALLOW_DEBUG_OPTION, description: `${ALLOW_DEBUG_OPTION.description} (with --pcrs)` },
  {
    name: "simulator-dir",
    kind: "string",
    description: `directory of a running \`strongroom sim\`: defaults --pcrs, --root, --token and --url to its ${Object.values(SIMULATOR_FILES).join(", ")}`,
  },
] as const satisfies OptionTable;

export type ConnectionValues = OptionValues<typeof CONNECTION_OPTIONS>;

export interface SignerRequest {
  readonly method: "GET" | "POST" | "PUT" | "DELETE";
  readonly path: string;
  /** Sent as JSON, or, with `secrets`, as the JSON part of a secret body whose `{"$secret": i}` references name `secrets[i]`. */
  readonly json?: unknown;
  /** The caller's buffers: it zeroes them. */
  readonly secrets?: readonly Uint8Array[];
  /**
   * false for the requests an operator without a token makes during an
   * unseal ceremony: no token is read and none is sent, so that such a
   * request never depends on, nor exposes, the administrator's token.
   */
  readonly token?: boolean;
}

export interface SignerAnswer {
  readonly status: number;
  /** The answer's bytes, the caller's to zero. */
  readonly body: Buffer;
  /** The Retry-After header of a 429 (a locked-out credential). */
  readonly retryAfter?: string | undefined;
}

export class SignerClient {
  readonly #url: URL;
  readonly #token: string;
  readonly #env: NodeJS.ProcessEnv;
  readonly #dispatcher: Dispatcher | undefined;

  private constructor(url: URL, token: string, env: NodeJS.ProcessEnv, dispatcher: Dispatcher | undefined) {
    this.#url = url;
    this.#token = token;
    this.#env = env;
    this.#dispatcher = dispatcher;
  }

  /** Checks the connection options (reading manifest and root, never the token) before anything is sent. */
  static open(values: ConnectionValues, env: NodeJS.ProcessEnv): SignerClient {
    const dir = values["simulator-dir"];
    const inDir = (name: string) => (dir === undefined ? undefined : join(dir, name));
    const pcrs = values.pcrs ?? inDir(SIMULATOR_FILES.pcrs);
    const root = values.root ?? inDir(SIMULATOR_FILES.root);
    const token = values.token ?? (dir === undefined ? DEFAULT_TOKEN : `file:${join(dir, SIMULATOR_FILES.token)}`);
    const urlText = values.url ?? (dir === undefined ? DEFAULT_URL : readIngressUrl(dir));
    const option = values.url === undefined && dir !== undefined ? `--simulator-dir (${SIMULATOR_FILES.url})` : "--url";
    let url: URL;
    try {
      url = new URL(urlText);
    } catch {
      throw new UsageError(`${option}: ${JSON.stringify(urlText.slice(0, 200))} is not a URL`);
    }
    if (pcrs === undefined) {
      if (values.root !== undefined || values["allow-debug"]) throw new UsageError("--root and --allow-debug apply only to attested TLS: give --pcrs too");
      return new SignerClient(url, token, env, undefined);
    }
    if (url.protocol !== "https:") throw new UsageError(`${option}: attested TLS (--pcrs) needs https://HOST:PORT of the parent's ingress, not ${url.protocol}//`);
    const dispatcher = createAtlsDispatcher({
      pcrPolicy: readManifestPolicy(pcrs, "--pcrs"),
      ...(root !== undefined && { root: readRootCertificateFile(root, "--root") }),
      allowDebug: values["allow-debug"],
      // A command makes its requests one after another: one verified connection serves them all.
      connections: 1,
    });
    return new SignerClient(url, token, env, dispatcher);
  }

  /** The answer to `call` if its status is 2xx; otherwise an Error with the signer's message (429: when to try again). */
  async call(call: SignerRequest): Promise<SignerAnswer> {
    const answer = await this.#send(call);
    if (answer.status >= 200 && answer.status < 300) return answer;
    throw new Error(`the signer answered ${answer.status}: ${errorText(answer)}`);
  }

  /** The answer's JSON, for a command that reads it rather than printing it. */
  async callJson(call: SignerRequest): Promise<unknown> {
    const { body } = await this.call(call);
    try {
      return JSON.parse(body.toString("utf8"));
    } catch {
      throw new Error(`the signer's answer to ${call.method} ${call.path} is not JSON`);
    }
  }

  /** Fails now, not after the operator typed their secrets, if the token cannot be read; it is read again (and zeroed) per request. */
  checkToken(): void {
    readSecret(this.#token, "--token", this.#env).fill(0);
  }

  async close(): Promise<void> {
    await this.#dispatcher?.close();
  }

  async #send(call: SignerRequest): Promise<SignerAnswer> {
    const body = call.secrets !== undefined ? encodeSecretBody(call.json, call.secrets) : call.json !== undefined ? Buffer.from(JSON.stringify(call.json), "utf8") : undefined;
    const token = call.token === false ? undefined : readSecret(this.#token, "--token", this.#env);
    try {
      const headers: Record<string, string> = { accept: "application/json" };
      // undici takes header values only as strings; this is the one place the CLI holds the token as one.
      if (token !== undefined) headers["authorization"] = `Bearer ${token.toString("ascii")}`;
      if (body !== undefined) headers["content-type"] = call.secrets !== undefined ? SECRET_BODY_MEDIA_TYPE : "application/json";
      const answer = await request(new URL(call.path, this.#url), {
        method: call.method,
        headers,
        ...(body !== undefined && { body }),
        ...(this.#dispatcher !== undefined && { dispatcher: this.#dispatcher }),
      });
      const retryAfter = answer.headers["retry-after"];
      return { status: answer.statusCode, body: Buffer.from(await answer.body.arrayBuffer()), retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter };
    } catch (error) {
      throw new Error(this.#unreachable(error));
    } finally {
      token?.fill(0);
      // The secrets were copied into the body: both copies go.
      body?.fill(0);
    }
  }

  #unreachable(error: unknown): string {
    const { name, message, code } = error as { name?: string; message?: string; code?: string };
    if (name === "AtlsVerificationError") return `the signer at ${this.#url.origin} failed attested-TLS verification, so nothing was sent: ${message}`;
    return `cannot reach the signer at ${this.#url.origin} (${code ?? message}); is it running? Give its address with --url`;
  }
}

/** The signer's error message (`{"message"}`), or the body as it is; a lockout says when to try again. */
function errorText(answer: SignerAnswer): string {
  let message = answer.body.toString("utf8").slice(0, 2000);
  try {
    message = (JSON.parse(message) as { message?: string }).message ?? message;
  } catch {
    // not JSON: show it as it is
  }
  if (answer.status === 429) message += answer.retryAfter !== undefined ? ` (try again in ${answer.retryAfter} s)` : " (try again later)";
  return message;
}

/** The one line `strongroom sim` writes with its ingress URL. */
function readIngressUrl(dir: string): string {
  const path = join(dir, SIMULATOR_FILES.url);
  try {
    return readFileSync(path, "utf8").trim();
  } catch (error) {
    throw new UsageError(`--simulator-dir: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); is the simulator running? Or give --url`);
  }
}

/** Prints an answer as the signer sent it (JSON), then zeroes it: a created token's secret goes from the response bytes to stdout unparsed. */
export async function printAnswer({ body }: SignerAnswer): Promise<void> {
  await new Promise<void>((resolve) => process.stdout.write(body, () => resolve()));
  body.fill(0);
  process.stdout.write("\n");
}
