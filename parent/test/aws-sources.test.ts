// The parent's credential sources: the credentials type and its redaction, the credential document,
// the environment, the container endpoint and IMDSv2 (against the simulator), and the choice.
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inspect } from "node:util";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import {
  AwsCredentials,
  containerCredentialSource,
  CredentialSourceError,
  environmentCredentialSource,
  ImdsClient,
  imdsCredentialSource,
  imdsEndpointFromEnvironment,
  parseCredentialDocument,
  selectCredentialSource,
} from "@strongroom/parent";
import { ImdsSimulator } from "@strongroom/sim";
import { accepted } from "./aws-support.ts";

const SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const SESSION = "IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKEN+/=";

function documentBody(overrides: Record<string, unknown> = {}): string {
  return JSON.stringify({
    Code: "Success",
    LastUpdated: "2026-11-21T13:00:00Z",
    Type: "AWS-HMAC",
    AccessKeyId: "ASIAEXAMPLEEXAMPLE12",
    SecretAccessKey: SECRET,
    Token: SESSION,
    Expiration: "2026-11-21T19:00:00Z",
    ...overrides,
  });
}

async function rejection(promise: Promise<unknown>): Promise<CredentialSourceError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CredentialSourceError);
  return error as CredentialSourceError;
}

function thrown(fn: () => unknown): CredentialSourceError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(CredentialSourceError);
    return error as CredentialSourceError;
  }
  throw new Error("expected a CredentialSourceError");
}

describe("AwsCredentials", () => {
  const credentials = new AwsCredentials("imds", { accessKeyId: "ASIAEXAMPLEEXAMPLE12", secretAccessKey: SECRET, sessionToken: SESSION, expiration: new Date("2026-11-21T19:00:00Z") });

  test("the secret and the session token are reachable by name only: JSON, inspect, spread and keys show the summary", () => {
    expect(credentials.secretAccessKey).toBe(SECRET);
    expect(credentials.sessionToken).toBe(SESSION);
    for (const text of [JSON.stringify(credentials), JSON.stringify({ nested: credentials }), inspect(credentials), inspect({ credentials }, { depth: 5, showHidden: true }), JSON.stringify({ ...credentials }), String(Object.keys(credentials))]) {
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain(SESSION);
    }
    expect(JSON.parse(JSON.stringify(credentials))).toEqual({ source: "imds", accessKeyId: "ASIAEXAMPLEEXAMPLE12", temporary: true, expiration: "2026-11-21T19:00:00.000Z" });
    expect(Object.isFrozen(credentials)).toBe(true);
  });

  test("remainingMs counts to the expiration, forever for long-term keys", () => {
    expect(credentials.remainingMs(Date.parse("2026-11-21T18:00:00Z"))).toBe(3_600_000);
    expect(new AwsCredentials("environment", { accessKeyId: "AKIAEXAMPLEEXAMPLE12", secretAccessKey: SECRET }).remainingMs()).toBe(Infinity);
  });

  test("shapes AWS would refuse are refused, and the message never quotes the value", () => {
    const good = { accessKeyId: "ASIAEXAMPLEEXAMPLE12", secretAccessKey: SECRET };
    const bad = [
      { ...good, accessKeyId: "short" },
      { ...good, accessKeyId: "ASIA EXAMPLE EXAMPLE" },
      { ...good, secretAccessKey: "" },
      { ...good, secretAccessKey: `${SECRET}\n` },
      { ...good, sessionToken: "" },
      { ...good, sessionToken: "a".repeat(16_385) },
      { ...good, sessionToken: "line\r\nbreak" },
      { ...good, expiration: new Date(Number.NaN) },
    ];
    for (const fields of bad) {
      let message = "";
      expect(() => {
        try {
          new AwsCredentials("imds", fields);
        } catch (error) {
          message = (error as Error).message;
          throw error;
        }
      }).toThrow();
      expect(message).not.toContain(SECRET);
    }
  });
});

describe("the credential document", () => {
  test("IMDS's document, with its ' : ' spacing and extra fields, becomes credentials", () => {
    const body = `{\n  "Code" : "Success",\n  "LastUpdated" : "2026-11-21T13:00:00Z",\n  "Type" : "AWS-HMAC",\n  "AccessKeyId" : "ASIAEXAMPLEEXAMPLE12",\n  "SecretAccessKey" : "${SECRET}",\n  "Token" : "${SESSION}",\n  "Expiration" : "2026-11-21T19:00:00Z",\n  "AccountId" : "000000000000"\n}`;
    const credentials = parseCredentialDocument("imds", body);
    expect(credentials.accessKeyId).toBe("ASIAEXAMPLEEXAMPLE12");
    expect(credentials.secretAccessKey).toBe(SECRET);
    expect(credentials.sessionToken).toBe(SESSION);
    expect(credentials.expiration?.toISOString()).toBe("2026-11-21T19:00:00.000Z");
    expect(parseCredentialDocument("container", documentBody({ Code: undefined, Expiration: "2026-11-21T19:00:00.123+02:00" })).expiration?.toISOString()).toBe("2026-11-21T17:00:00.123Z");
  });

  test("anything else is `malformed`, and no message quotes a secret", () => {
    const bodies = [
      "not json",
      "[]",
      "null",
      documentBody({ Code: "AssumeRoleUnauthorizedAccess", Message: "role cannot be assumed" }),
      documentBody({ SecretAccessKey: undefined }),
      documentBody({ Token: 7 }),
      documentBody({ Expiration: "tomorrow" }),
      documentBody({ Expiration: "2026-11-21" }),
      documentBody({ AccessKeyId: "bad key" }),
      `${documentBody().slice(0, -1)}`,
    ];
    for (const body of bodies) {
      const error = thrown(() => parseCredentialDocument("imds", body));
      expect(error.reason).toBe("malformed");
      expect(error.message).not.toContain(SECRET);
      expect(error.message).not.toContain(SESSION);
    }
    expect(thrown(() => parseCredentialDocument("imds", documentBody({ Code: "AssumeRoleUnauthorizedAccess", Message: "role cannot be assumed" }))).message).toContain("AssumeRoleUnauthorizedAccess");
  });
});

describe("environment variables", () => {
  test("keys, session token and RFC 3339 expiration", async () => {
    const source = environmentCredentialSource({ AWS_ACCESS_KEY_ID: "AKIAEXAMPLEEXAMPLE12", AWS_SECRET_ACCESS_KEY: SECRET, AWS_SESSION_TOKEN: SESSION, AWS_CREDENTIAL_EXPIRATION: "2026-11-21T19:00:00Z" });
    const credentials = await source.fetch();
    expect(credentials.source).toBe("environment");
    expect(credentials.sessionToken).toBe(SESSION);
    expect(credentials.expiration?.toISOString()).toBe("2026-11-21T19:00:00.000Z");
    const longTerm = await environmentCredentialSource({ AWS_ACCESS_KEY_ID: "AKIAEXAMPLEEXAMPLE12", AWS_SECRET_ACCESS_KEY: SECRET, AWS_SESSION_TOKEN: "" }).fetch();
    expect(longTerm.sessionToken).toBeUndefined();
    expect(longTerm.expiration).toBeUndefined();
  });

  test("missing or malformed variables are `configuration` errors that name the variable, not its value", () => {
    for (const env of [
      { AWS_ACCESS_KEY_ID: "AKIAEXAMPLEEXAMPLE12" },
      { AWS_SECRET_ACCESS_KEY: SECRET },
      { AWS_ACCESS_KEY_ID: "AKIAEXAMPLEEXAMPLE12", AWS_SECRET_ACCESS_KEY: SECRET, AWS_CREDENTIAL_EXPIRATION: "soon" },
      { AWS_ACCESS_KEY_ID: "AKIAEXAMPLEEXAMPLE12", AWS_SECRET_ACCESS_KEY: `${SECRET} with spaces` },
    ]) {
      const error = thrown(() => environmentCredentialSource(env));
      expect(error.reason).toBe("configuration");
      expect(error.message).toMatch(/AWS_/);
      expect(error.message).not.toContain(SECRET);
    }
  });
});

describe("the container endpoint (ECS, EKS Pod Identity)", () => {
  let server: Server;
  let base: string;
  let answer: (req: IncomingMessage) => { status: number; body: string };
  const seen: IncomingMessage[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push(req);
      const { status, body } = answer(req);
      res.writeHead(status, { "content-type": "application/json" }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
  afterEach(() => (seen.length = 0));

  test("full URI with the authorization token from a file, read afresh on every fetch", async () => {
    const dir = mkdtempSync(join(tmpdir(), "strongroom-container-"));
    const tokenFile = join(dir, "token");
    writeFileSync(tokenFile, "first-token\n");
    answer = () => ({ status: 200, body: documentBody({ Code: undefined, LastUpdated: undefined, Type: undefined, AccountId: "000000000000" }) });
    const source = containerCredentialSource({ env: { AWS_CONTAINER_CREDENTIALS_FULL_URI: `${base}/v1/credentials?x=1`, AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: tokenFile } });
    expect(source.name).toBe("container");
    const credentials = await source.fetch();
    expect(credentials.source).toBe("container");
    expect(credentials.secretAccessKey).toBe(SECRET);
    writeFileSync(tokenFile, "second-token");
    await source.fetch();
    expect(seen.map((req) => [req.url, req.headers.authorization])).toEqual([
      ["/v1/credentials?x=1", "first-token"],
      ["/v1/credentials?x=1", "second-token"],
    ]);
  });

  test("an error answer is `http-status` with the agent's Code and Message", async () => {
    answer = () => ({ status: 400, body: JSON.stringify({ Code: "InvalidToken", Message: "the token is not valid" }) });
    const source = containerCredentialSource({ env: { AWS_CONTAINER_CREDENTIALS_FULL_URI: `${base}/v1/credentials`, AWS_CONTAINER_AUTHORIZATION_TOKEN: "tok" } });
    const error = await rejection(source.fetch());
    expect(error.reason).toBe("http-status");
    expect(error.status).toBe(400);
    expect(error.message).toContain("InvalidToken the token is not valid");
  });

  test("plain HTTP only to loopback or the ECS and EKS agent addresses; tokens with line breaks refused", async () => {
    for (const uri of ["http://169.254.170.2/creds", "http://169.254.170.23/v1/credentials", "http://[fd00:ec2::23]/v1/credentials", "http://localhost:8080/c", "https://creds.example.com/c"]) {
      expect(containerCredentialSource({ env: { AWS_CONTAINER_CREDENTIALS_FULL_URI: uri } }).describe()).toContain(new URL(uri).host);
    }
    expect(containerCredentialSource({ env: { AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: "/v2/credentials/abc" } }).describe()).toBe("container credential endpoint http://169.254.170.2/v2/credentials/abc");
    for (const env of [
      { AWS_CONTAINER_CREDENTIALS_FULL_URI: "http://creds.example.com/c" },
      { AWS_CONTAINER_CREDENTIALS_FULL_URI: "http://user:pw@127.0.0.1/c" },
      { AWS_CONTAINER_CREDENTIALS_FULL_URI: "file:///etc/passwd" },
      { AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: "v2/credentials" },
      {},
    ]) {
      expect(thrown(() => containerCredentialSource({ env })).reason).toBe("configuration");
    }
    const injected = containerCredentialSource({ env: { AWS_CONTAINER_CREDENTIALS_FULL_URI: `${base}/c`, AWS_CONTAINER_AUTHORIZATION_TOKEN: "tok\r\nX-Evil: 1" } });
    expect((await rejection(injected.fetch())).reason).toBe("configuration");
    expect(seen).toHaveLength(0);
  });

  test("redirects are not followed and oversized answers are refused unread", async () => {
    answer = () => ({ status: 302, body: "" });
    const source = containerCredentialSource({ env: { AWS_CONTAINER_CREDENTIALS_FULL_URI: `${base}/c` } });
    expect((await rejection(source.fetch())).status).toBe(302);
    answer = () => ({ status: 200, body: documentBody({ Padding: "x".repeat(70_000) }) });
    expect((await rejection(source.fetch())).reason).toBe("malformed");
  });

  test("a dead endpoint is `unreachable`", async () => {
    const dead = createServer();
    await new Promise<void>((resolve) => dead.listen(0, "127.0.0.1", resolve));
    const port = (dead.address() as AddressInfo).port;
    await new Promise<void>((resolve) => dead.close(() => resolve()));
    const error = await rejection(containerCredentialSource({ env: { AWS_CONTAINER_CREDENTIALS_FULL_URI: `http://127.0.0.1:${port}/c` } }).fetch());
    expect(error.reason).toBe("unreachable");
  });
});

describe("IMDSv2, against the simulator", () => {
  let imds: ImdsSimulator;
  beforeAll(async () => {
    imds = await ImdsSimulator.start();
  });
  afterAll(() => imds.close());
  afterEach(() => {
    imds.setFault(null);
    imds.setRole("arn:aws:iam::000000000000:role/strongroom-simulated-parent");
  });

  test("token, role, credentials: the ones IMDS serves, which the simulated AWS accepts", async () => {
    const client = new ImdsClient({ endpoint: imds.url });
    const credentials = await client.credentials();
    const served = imds.credentials()!;
    expect(credentials.source).toBe("imds");
    expect(credentials.accessKeyId).toBe(served.accessKeyId);
    expect(credentials.accessKeyId).toMatch(/^ASIA[A-Z2-7]{16}$/);
    expect(credentials.secretAccessKey).toBe(served.secretAccessKey);
    expect(credentials.sessionToken).toBe(served.sessionToken);
    expect(credentials.expiration?.getTime()).toBe(served.expiration.getTime());
    expect(accepted(imds, credentials)).toBe(true);
    expect(await client.region()).toBe("us-east-1");
    expect(await client.get("/latest/meta-data/instance-id")).toBe("i-0123456789abcdef0");
    // Every request carried a valid token; there was no IMDSv1 request.
    expect(imds.requests().every((r) => r.method === "PUT" || r.token === "valid")).toBe(true);
  });

  test("one session token serves many fetches; a forgotten token is renewed once, on the 401", async () => {
    const client = new ImdsClient({ endpoint: imds.url });
    const before = imds.requests().length;
    await Promise.all([client.credentials(), client.credentials(), client.credentials()]);
    await client.credentials();
    const puts = () => imds.requests().slice(before).filter((r) => r.method === "PUT").length;
    expect(puts()).toBe(1);
    imds.forgetTokens();
    await client.credentials();
    expect(puts()).toBe(2);
    expect(imds.requests().slice(before).filter((r) => r.status === 401)).toHaveLength(1);
  });

  test("a token is renewed before its TTL runs out", async () => {
    let now = Date.now();
    const client = new ImdsClient({ endpoint: imds.url, tokenTtlSeconds: 60, now: () => now });
    const before = imds.requests().length;
    await client.credentials();
    now += 50_000; // inside 60 s, before the renewal margin (6 s)
    await client.credentials();
    now += 5_000; // 55 s: within the margin
    await client.credentials();
    expect(imds.requests().slice(before).filter((r) => r.method === "PUT")).toHaveLength(2);
  });

  test("no role attached: `no-role`, with what to do", async () => {
    imds.setRole(null);
    const error = await rejection(new ImdsClient({ endpoint: imds.url }).credentials());
    expect(error.reason).toBe("no-role");
    expect(error.message).toContain("instance profile");
  });

  test("IMDS errors: `http-status` for the token and for the credentials, `timeout` with the hop-limit hint, `unreachable` on a reset", async () => {
    imds.setFault({ kind: "status", status: 403, target: "token", times: 1 });
    let error = await rejection(new ImdsClient({ endpoint: imds.url }).credentials());
    expect([error.reason, error.status]).toEqual(["http-status", 403]);
    expect(error.message).toContain("turned off");

    imds.setFault({ kind: "status", status: 500, target: "credentials", times: 1 });
    error = await rejection(new ImdsClient({ endpoint: imds.url }).credentials());
    expect([error.reason, error.status]).toEqual(["http-status", 500]);

    imds.setFault({ kind: "hang", target: "token", times: 1 });
    error = await rejection(new ImdsClient({ endpoint: imds.url, timeoutMs: 200 }).credentials());
    expect(error.reason).toBe("timeout");
    expect(error.message).toContain("HttpPutResponseHopLimit");

    imds.setFault({ kind: "reset", target: "credentials", times: 1 });
    error = await rejection(new ImdsClient({ endpoint: imds.url }).credentials());
    expect(error.reason).toBe("unreachable");
    // Faults with `times` clear themselves.
    expect((await new ImdsClient({ endpoint: imds.url }).credentials()).source).toBe("imds");
  });

  test("an abort stops the fetch at once", async () => {
    imds.setFault({ kind: "hang", times: 1 });
    const abort = new AbortController();
    const fetching = imdsCredentialSource({ endpoint: imds.url, timeoutMs: 10_000 }).fetch(abort.signal);
    setTimeout(() => abort.abort(), 50);
    expect((await rejection(fetching)).reason).toBe("aborted");
  });

  test("the endpoint comes from AWS_EC2_METADATA_SERVICE_ENDPOINT or the endpoint mode", () => {
    expect(imdsEndpointFromEnvironment({}).href).toBe("http://169.254.169.254/");
    expect(imdsEndpointFromEnvironment({ AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE: "IPv6" }).href).toBe("http://[fd00:ec2::254]/");
    expect(imdsEndpointFromEnvironment(imds.environment()).href).toBe(`${imds.url}/`);
    expect(thrown(() => imdsEndpointFromEnvironment({ AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE: "IPv5" })).reason).toBe("configuration");
    expect(thrown(() => imdsEndpointFromEnvironment({ AWS_EC2_METADATA_SERVICE_ENDPOINT: "ftp://x" })).reason).toBe("configuration");
    expect(() => new ImdsClient({ endpoint: imds.url, tokenTtlSeconds: 21_601 })).toThrow(RangeError);
  });
});

describe("choosing a source", () => {
  const keys = { AWS_ACCESS_KEY_ID: "AKIAEXAMPLEEXAMPLE12", AWS_SECRET_ACCESS_KEY: SECRET };
  const container = { AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: "/v2/credentials/abc" };

  test("auto: environment keys, else the container endpoint, else IMDS", () => {
    expect(selectCredentialSource("auto", { env: { ...keys, ...container } }).name).toBe("environment");
    expect(selectCredentialSource("auto", { env: container }).name).toBe("container");
    const imds = selectCredentialSource("auto", { env: { AWS_EC2_METADATA_SERVICE_ENDPOINT: "http://127.0.0.1:1" } });
    expect([imds.name, imds.describe()]).toEqual(["imds", "IMDSv2 at http://127.0.0.1:1"]);
    expect(thrown(() => selectCredentialSource("auto", { env: { AWS_EC2_METADATA_DISABLED: "true" } })).reason).toBe("configuration");
  });

  test("a forced source ignores the others, and fails when it is not configured", () => {
    expect(selectCredentialSource("imds", { env: { ...keys, ...container } }).name).toBe("imds");
    expect(thrown(() => selectCredentialSource("container", { env: keys })).reason).toBe("configuration");
    expect(thrown(() => selectCredentialSource("environment", { env: container })).reason).toBe("configuration");
    expect(thrown(() => selectCredentialSource("profile" as never, { env: {} })).message).toContain("auto, environment, container, imds");
  });
});
