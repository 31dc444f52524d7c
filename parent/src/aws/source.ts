// Where the parent gets its AWS credentials, and which source it picks.
//
// The choice is made once, from configuration and the environment, the way the AWS SDKs order their
// chain (environment keys, then the container endpoint, then IMDS) but without probing: a parent on
// EC2 whose IMDS is briefly slow must not silently end up with nothing, or with another source.
import { readFile } from "node:fs/promises";
import { AwsCredentials, type CredentialSourceName, InvalidCredentialsError } from "./credentials.ts";
import { parseCredentialDocument, parseTimestamp, CREDENTIAL_DOCUMENT_MAX_BYTES } from "./document.ts";
import { CredentialSourceError, exchange } from "./http.ts";
import { imdsCredentialSource, imdsEndpointFromEnvironment, type ImdsOptions } from "./imds.ts";

export interface CredentialSource {
  readonly name: CredentialSourceName;
  /** Where the source asks, for logs and errors (never a secret). */
  describe(): string;
  /** One attempt at fresh credentials; throws CredentialSourceError. */
  fetch(signal?: AbortSignal): Promise<AwsCredentials>;
}

/** `auto` picks by the environment; the others force one source. */
export type CredentialSourceChoice = "auto" | CredentialSourceName;
export const CREDENTIAL_SOURCE_CHOICES: readonly CredentialSourceChoice[] = ["auto", "environment", "container", "imds"];

const set = (value: string | undefined): value is string => value !== undefined && value !== "";

/**
 * Long-term or temporary keys from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN and
 * AWS_CREDENTIAL_EXPIRATION (RFC 3339), read once when the source is made. Without an expiration
 * nothing is ever refreshed; with one, they are used until then and the refresher reports them
 * expired after it (nothing can renew them).
 */
export function environmentCredentialSource(env: NodeJS.ProcessEnv = process.env): CredentialSource {
  const fail = (message: string) => new CredentialSourceError("environment", "configuration", message);
  if (!set(env.AWS_ACCESS_KEY_ID) || !set(env.AWS_SECRET_ACCESS_KEY)) throw fail("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must both be set");
  let expiration: Date | undefined;
  if (set(env.AWS_CREDENTIAL_EXPIRATION)) {
    expiration = parseTimestamp(env.AWS_CREDENTIAL_EXPIRATION);
    if (expiration === undefined) throw fail("AWS_CREDENTIAL_EXPIRATION is not an RFC 3339 time");
  }
  let credentials: AwsCredentials;
  try {
    credentials = new AwsCredentials("environment", {
      accessKeyId: env.AWS_ACCESS_KEY_ID,
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
      sessionToken: set(env.AWS_SESSION_TOKEN) ? env.AWS_SESSION_TOKEN : undefined,
      expiration,
    });
  } catch (error) {
    if (error instanceof InvalidCredentialsError) throw fail(`AWS_* variables: ${error.message}`);
    throw error;
  }
  return { name: "environment", describe: () => "environment variables", fetch: async () => credentials };
}

/** The ECS task-role endpoint, for AWS_CONTAINER_CREDENTIALS_RELATIVE_URI. */
export const ECS_CREDENTIALS_HOST = "http://169.254.170.2";
/** Hosts a plain-HTTP AWS_CONTAINER_CREDENTIALS_FULL_URI may name (as the AWS SDKs allow): the ECS and EKS Pod Identity agents, loopback. */
const CONTAINER_HTTP_HOSTS = /^(169\.254\.170\.2|169\.254\.170\.23|\[fd00:ec2::23\]|localhost|127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\])$/;
const AUTHORIZATION = /^[\x21-\x7e][\x20-\x7e]{0,8191}$/;

export interface ContainerOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** Deadline of each request; default 2000 ms. */
  readonly timeoutMs?: number;
}

/**
 * The container credential endpoint: the ECS agent (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI) or EKS
 * Pod Identity and friends (AWS_CONTAINER_CREDENTIALS_FULL_URI, with AWS_CONTAINER_AUTHORIZATION_TOKEN
 * or AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE). The token file is read on every fetch, as the agent
 * rotates it.
 */
export function containerCredentialSource(options: ContainerOptions = {}): CredentialSource {
  const env = options.env ?? process.env;
  const timeoutMs = options.timeoutMs ?? 2_000;
  const fail = (message: string) => new CredentialSourceError("container", "configuration", message);
  let url: URL;
  if (set(env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI)) {
    if (!env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI.startsWith("/")) throw fail("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI must start with /");
    url = new URL(ECS_CREDENTIALS_HOST + env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI);
  } else if (set(env.AWS_CONTAINER_CREDENTIALS_FULL_URI)) {
    try {
      url = new URL(env.AWS_CONTAINER_CREDENTIALS_FULL_URI);
    } catch {
      throw fail("AWS_CONTAINER_CREDENTIALS_FULL_URI is not a URL");
    }
    if (url.username !== "" || url.password !== "") throw fail("AWS_CONTAINER_CREDENTIALS_FULL_URI must not carry credentials");
    if (url.protocol !== "https:" && !(url.protocol === "http:" && CONTAINER_HTTP_HOSTS.test(url.hostname))) {
      throw fail("AWS_CONTAINER_CREDENTIALS_FULL_URI must be https, or http to loopback, 169.254.170.2, 169.254.170.23 or [fd00:ec2::23]");
    }
  } else {
    throw fail("neither AWS_CONTAINER_CREDENTIALS_RELATIVE_URI nor AWS_CONTAINER_CREDENTIALS_FULL_URI is set");
  }
  const tokenFile = set(env.AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE) ? env.AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE : undefined;
  const token = set(env.AWS_CONTAINER_AUTHORIZATION_TOKEN) ? env.AWS_CONTAINER_AUTHORIZATION_TOKEN : undefined;

  const authorization = async (): Promise<string | undefined> => {
    let value = token;
    if (tokenFile !== undefined) {
      try {
        value = (await readFile(tokenFile, "utf8")).trim();
      } catch (error) {
        throw new CredentialSourceError("container", "configuration", `cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: ${(error as NodeJS.ErrnoException).code ?? "error"}`, { cause: error });
      }
    }
    if (value !== undefined && !AUTHORIZATION.test(value)) throw fail("the container authorization token is empty, too long or holds line breaks or control characters");
    return value;
  };

  return {
    name: "container",
    describe: () => `container credential endpoint ${url.origin}${url.pathname}`,
    async fetch(signal) {
      const value = await authorization();
      const reply = await exchange("container", url, { method: "GET", headers: value === undefined ? {} : { authorization: value }, timeoutMs, maxBodyBytes: CREDENTIAL_DOCUMENT_MAX_BYTES, signal });
      if (reply.status !== 200) {
        // The agents answer errors as {"Code": …, "Message": …}; neither holds a secret.
        let detail = "";
        try {
          const body = JSON.parse(reply.body) as { Code?: unknown; Message?: unknown };
          if (typeof body.Code === "string") detail = `: ${body.Code.slice(0, 64)}${typeof body.Message === "string" ? ` ${body.Message.slice(0, 200)}` : ""}`;
        } catch {
          // not JSON: the status says enough
        }
        throw new CredentialSourceError("container", "http-status", `${url.host} answered ${reply.status}${detail}`, { status: reply.status });
      }
      return parseCredentialDocument("container", reply.body);
    },
  };
}

export interface SelectOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** For the IMDS source (its endpoint otherwise comes from `env`). */
  readonly imds?: ImdsOptions;
  readonly container?: Omit<ContainerOptions, "env">;
}

/**
 * The source for a choice. `auto`: environment keys when AWS_ACCESS_KEY_ID is set, else the container
 * endpoint when AWS_CONTAINER_CREDENTIALS_(RELATIVE|FULL)_URI is, else IMDS — unless
 * AWS_EC2_METADATA_DISABLED=true, which leaves no source. Configuration errors throw
 * CredentialSourceError with reason `configuration`.
 */
export function selectCredentialSource(choice: CredentialSourceChoice = "auto", options: SelectOptions = {}): CredentialSource {
  const env = options.env ?? process.env;
  let pick = choice;
  if (pick === "auto") {
    if (set(env.AWS_ACCESS_KEY_ID)) pick = "environment";
    else if (set(env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI) || set(env.AWS_CONTAINER_CREDENTIALS_FULL_URI)) pick = "container";
    else if (env.AWS_EC2_METADATA_DISABLED?.toLowerCase() === "true") {
      throw new CredentialSourceError("imds", "configuration", "no AWS credential source: no AWS_ACCESS_KEY_ID, no container endpoint, and AWS_EC2_METADATA_DISABLED=true");
    } else pick = "imds";
  }
  switch (pick) {
    case "environment":
      return environmentCredentialSource(env);
    case "container":
      return containerCredentialSource({ ...options.container, env });
    case "imds":
      return imdsCredentialSource({ ...options.imds, endpoint: options.imds?.endpoint ?? imdsEndpointFromEnvironment(env) });
    default:
      throw new CredentialSourceError("imds", "configuration", `unknown credential source ${JSON.stringify(String(pick).slice(0, 32))}; choose one of ${CREDENTIAL_SOURCE_CHOICES.join(", ")}`);
  }
}
