// The AWS front before a real dynalite, driven by the real DynamoDB SDK over
// TLS verified against the service CA under the endpoint's real name: what
// it lets through, what it refuses and how (as AWS answers), and its bounds.
import { mkdtempSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Server } from "node:http";
import { CreateTableCommand, DynamoDBClient, GetItemCommand, ListTablesCommand, PutItemCommand } from "@aws-sdk/client-dynamodb";
import { SignatureV4 } from "@smithy/signature-v4";
import dynalite from "dynalite";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { loadOrCreateServiceCa, startAwsFront, type AwsCredentialRecord, type AwsFront, type ServiceCa } from "../src/index.ts";
import { Sha256 } from "../src/sigv4-verifier.ts";
import { failure, sdkClientConfig } from "./support/aws.ts";

const REGION = "us-east-1";
const NAME = `dynamodb.${REGION}.sim.strongroom.internal`;
const MINUTE = 60_000;

const CREDENTIALS: Record<string, AwsCredentialRecord> = {
  AKIDSTRONGROOMVALID: { secretAccessKey: "valid-secret-0123456789" },
  AKIDSTRONGROOMSESSION: { secretAccessKey: "session-secret-0123456789", sessionToken: "session-token-abcdef" },
};
const lookup = (accessKeyId: string) => CREDENTIALS[accessKeyId];
const valid = { accessKeyId: "AKIDSTRONGROOMVALID", secretAccessKey: "valid-secret-0123456789" };
const SECRETS = Object.values(CREDENTIALS).flatMap((record) => [record.secretAccessKey, record.sessionToken ?? record.secretAccessKey]);

let ca: ServiceCa;
let backend: Server;
let backendUrl: URL;
const fronts: AwsFront[] = [];

beforeAll(async () => {
  ca = loadOrCreateServiceCa(mkdtempSync(join(tmpdir(), "strongroom-service-ca-")));
  backend = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve) => backend.listen(0, "127.0.0.1", () => resolve()));
  backendUrl = new URL(`http://127.0.0.1:${(backend.address() as AddressInfo).port}`);
});
afterAll(async () => {
  await Promise.all(fronts.map((front) => front.close()));
  if (backend !== undefined) await new Promise<void>((resolve) => backend.close(() => resolve()));
});

async function startFront(now?: () => Date): Promise<AwsFront> {
  const front = await startAwsFront({ ca, names: [NAME], backend: backendUrl, region: REGION, service: "dynamodb", lookup, now });
  fronts.push(front);
  return front;
}

type Credentials = { accessKeyId: string; secretAccessKey: string; sessionToken?: string };

function dynamo(front: AwsFront, credentials: Credentials, options: { region?: string; maxAttempts?: number } = {}): DynamoDBClient {
  return new DynamoDBClient(sdkClientConfig({ endpoint: front.url, region: options.region ?? REGION, credentials, ca, name: NAME, maxAttempts: options.maxAttempts }));
}

/** A raw HTTPS request to the front (verified against the CA under its name), with the answer's status, headers and body. */
function rawRequest(front: AwsFront, headers: Record<string, string>, body?: Buffer): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const request = httpsRequest({ host: "127.0.0.1", port: front.port, servername: NAME, ca: ca.certificatePem, method: "POST", path: "/", headers, agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString("utf8") }));
    });
    request.on("error", reject);
    if (body === undefined) request.flushHeaders();
    else request.end(body);
  });
}

const lastReason = (front: AwsFront) => front.rejected().at(-1)?.reason;

type Middleware = Parameters<DynamoDBClient["middlewareStack"]["addRelativeTo"]>[0];
type SignedHttpRequest = { headers: Record<string, string>; body: Uint8Array | string };

/** Lets `change` alter each request the client has just signed, as a party on the path could. */
function changeAfterSigning(client: DynamoDBClient, change: (request: SignedHttpRequest) => void): void {
  type Args = { request: unknown };
  const middleware = (next: (args: Args) => Promise<unknown>) => async (args: Args) => {
    change(args.request as SignedHttpRequest);
    return next(args);
  };
  // A finalizeRequest-step middleware; the stack's parameter type is the union of every step's.
  client.middlewareStack.addRelativeTo(middleware as unknown as Middleware, { relation: "after", toMiddleware: "httpSigningMiddleware" });
}

describe("the AWS front before dynalite", () => {
  let front: AwsFront;
  beforeAll(async () => {
    front = await startFront();
  });

  test("is an https URL under the service's first name", () => {
    expect(front.url).toBe(`https://${NAME}:${front.port}`);
  });

  test("requests signed with valid credentials reach DynamoDB and its answers come back", async () => {
    const client = dynamo(front, valid);
    await client.send(new CreateTableCommand({ TableName: "front_test", AttributeDefinitions: [{ AttributeName: "k", AttributeType: "S" }], KeySchema: [{ AttributeName: "k", KeyType: "HASH" }], BillingMode: "PAY_PER_REQUEST" }));
    expect((await client.send(new ListTablesCommand({}))).TableNames).toContain("front_test");
    await client.send(new PutItemCommand({ TableName: "front_test", Item: { k: { S: "key" }, v: { S: "ünïcode value" } } }));
    expect((await client.send(new GetItemCommand({ TableName: "front_test", Key: { k: { S: "key" } } }))).Item).toEqual({ k: { S: "key" }, v: { S: "ünïcode value" } });
    // A DynamoDB error is the backend's answer, passed through, not a refusal of the front.
    const missing = await failure(client.send(new GetItemCommand({ TableName: "no_such_table", Key: { k: { S: "key" } } })));
    expect(missing.name).toBe("ResourceNotFoundException");
    expect(front.rejected()).toEqual([]);
  });

  test("a wrong secret is refused with InvalidSignatureException, and recorded", async () => {
    const error = await failure(dynamo(front, { ...valid, secretAccessKey: "not-the-secret" }).send(new ListTablesCommand({})));
    expect(error.name).toBe("InvalidSignatureException");
    expect(error.$metadata?.httpStatusCode).toBe(400);
    expect(error.message).toMatch(/^The request signature we calculated does not match/);
    expect(lastReason(front)).toMatch(/^InvalidSignatureException: /);
    expect(front.rejected().at(-1)?.at).toBeInstanceOf(Date);
  });

  test("an unknown access key is refused with UnrecognizedClientException", async () => {
    const error = await failure(dynamo(front, { accessKeyId: "AKIDNOBODYKNOWS", secretAccessKey: "whatever" }).send(new ListTablesCommand({})));
    expect(error.name).toBe("UnrecognizedClientException");
    expect(error.message).toBe("The security token included in the request is invalid.");
  });

  test("credentials issued with a session token need exactly that token", async () => {
    const record = CREDENTIALS["AKIDSTRONGROOMSESSION"]!;
    const base = { accessKeyId: "AKIDSTRONGROOMSESSION", secretAccessKey: record.secretAccessKey };
    expect((await failure(dynamo(front, base).send(new ListTablesCommand({})))).name).toBe("UnrecognizedClientException");
    expect((await failure(dynamo(front, { ...base, sessionToken: "session-token-abcdeg" }).send(new ListTablesCommand({})))).name).toBe("UnrecognizedClientException");
    expect((await dynamo(front, { ...base, sessionToken: record.sessionToken! }).send(new ListTablesCommand({}))).TableNames).toBeDefined();
    // And credentials issued without one do not take one.
    expect((await failure(dynamo(front, { ...valid, sessionToken: "session-token-abcdef" }).send(new ListTablesCommand({})))).name).toBe("UnrecognizedClientException");
  });

  test("a signature scoped to another region is refused", async () => {
    const error = await failure(dynamo(front, valid, { region: "eu-west-1" }).send(new ListTablesCommand({})));
    expect(error.name).toBe("InvalidSignatureException");
    expect(error.message).toBe("Credential should be scoped to a valid region, not 'eu-west-1'.");
  });

  test("a signed header changed after signing is refused", async () => {
    const client = dynamo(front, valid);
    changeAfterSigning(client, (request) => {
      request.headers["x-amz-target"] = "DynamoDB_20120810.DescribeLimits";
    });
    expect((await failure(client.send(new ListTablesCommand({})))).name).toBe("InvalidSignatureException");
  });

  test("a body changed after signing is refused: the signed x-amz-content-sha256 the SDK sends must name the body received", async () => {
    const client = dynamo(front, valid);
    changeAfterSigning(client, (request) => {
      expect(request.headers["x-amz-content-sha256"]).toMatch(/^[0-9a-f]{64}$/);
      const text = typeof request.body === "string" ? request.body : new TextDecoder().decode(request.body);
      request.body = text.replace("honest", "forged");
    });
    const error = await failure(client.send(new PutItemCommand({ TableName: "front_test", Item: { k: { S: "tampered" }, v: { S: "honest" } } })));
    expect(error.name).toBe("InvalidSignatureException");
    expect(lastReason(front)).toBe("InvalidSignatureException: The provided 'x-amz-content-sha256' header does not match what was computed.");
    expect((await dynamo(front, valid).send(new GetItemCommand({ TableName: "front_test", Key: { k: { S: "tampered" } } }))).Item).toBeUndefined();
  });

  test("without x-amz-content-sha256 the signature covers the body itself", async () => {
    const body = Buffer.from(JSON.stringify({ TableName: "front_test", Item: { k: { S: "raw" }, v: { S: "honest" } } }));
    const signer = new SignatureV4({ credentials: valid, region: REGION, service: "dynamodb", sha256: Sha256, applyChecksum: false });
    const signed = await signer.sign({
      method: "POST",
      protocol: "https:",
      hostname: NAME,
      path: "/",
      headers: { host: `${NAME}:${front.port}`, "content-type": "application/x-amz-json-1.0", "x-amz-target": "DynamoDB_20120810.PutItem" },
      body,
    });
    const headers = signed.headers as Record<string, string>;
    expect(headers["x-amz-content-sha256"]).toBeUndefined();
    const forged = await rawRequest(front, headers, Buffer.from(body.toString("utf8").replace("honest", "forged")));
    expect(forged.status).toBe(400);
    expect(JSON.parse(forged.body)).toEqual({ __type: "com.amazon.coral.service#InvalidSignatureException", message: expect.stringMatching(/^The request signature we calculated does not match/) });
    const honest = await rawRequest(front, headers, body);
    expect(honest.status).toBe(200);
    expect((await dynamo(front, valid).send(new GetItemCommand({ TableName: "front_test", Key: { k: { S: "raw" } } }))).Item?.["v"]).toEqual({ S: "honest" });
  });

  test("a request without an Authorization header, or with a malformed one, gets AWS's JSON error", async () => {
    const target = { "content-type": "application/x-amz-json-1.0", "x-amz-target": "DynamoDB_20120810.ListTables" };
    const missing = await rawRequest(front, target, Buffer.from("{}"));
    expect(missing.status).toBe(400);
    expect(missing.headers["content-type"]).toBe("application/x-amz-json-1.0");
    expect(JSON.parse(missing.body)).toEqual({ __type: "com.amazon.coral.service#MissingAuthenticationTokenException", message: "Request is missing Authentication Token" });

    const malformed = [
      "AWS4-HMAC-SHA256 Credential=AKIDSTRONGROOMVALID/20300101/us-east-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date",
      "AWS4-HMAC-SHA256 Credential=AKIDSTRONGROOMVALID/us-east-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + "0".repeat(64),
      "AWS4-HMAC-SHA1 Credential=AKIDSTRONGROOMVALID/20300101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=" + "0".repeat(64),
      "AWS4-HMAC-SHA256 garbage",
    ];
    for (const authorization of malformed) {
      const answer = await rawRequest(front, { ...target, authorization, "x-amz-date": "20300101T000000Z" }, Buffer.from("{}"));
      expect(answer.status).toBe(400);
      expect(JSON.parse(answer.body)).toMatchObject({ __type: "com.amazon.coral.service#IncompleteSignatureException" });
    }
  });

  test("bodies above 16 MiB, declared or streamed, are refused and never held", async () => {
    const declared = await rawRequest(front, { "content-type": "application/x-amz-json-1.0", "content-length": String(16 * 1024 * 1024 + 1) });
    expect(declared.status).toBe(413);
    expect(JSON.parse(declared.body).__type).toBe("com.amazon.coral.service#RequestEntityTooLargeException");
    expect(declared.headers["connection"]).toBe("close");

    const streamed = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const request = httpsRequest(
        { host: "127.0.0.1", port: front.port, servername: NAME, ca: ca.certificatePem, method: "POST", path: "/", headers: { "content-type": "application/x-amz-json-1.0", "transfer-encoding": "chunked" }, agent: false },
        (response) => {
          const chunks: Buffer[] = [];
          response.on("data", (chunk: Buffer) => chunks.push(chunk));
          response.on("end", () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
          response.on("error", reject);
        },
      );
      // The front may close before all of it is written.
      request.on("error", () => undefined);
      const mebibyte = Buffer.alloc(1024 * 1024, 0x20);
      let sent = 0;
      const pump = () => {
        while (sent < 17) {
          sent++;
          if (!request.write(mebibyte)) return void request.once("drain", pump);
        }
        request.end();
      };
      pump();
    });
    expect(streamed.status).toBe(413);
    expect(JSON.parse(streamed.body).__type).toBe("com.amazon.coral.service#RequestEntityTooLargeException");
  });

  test("what it records never holds a secret or a session token", () => {
    expect(front.rejected().length).toBeGreaterThan(5);
    for (const { reason } of front.rejected()) for (const secret of SECRETS) expect(reason).not.toContain(secret);
  });
});

describe("the AWS front's clock", () => {
  test("expired credentials are refused with ExpiredTokenException from their expiration on", async () => {
    const expiration = new Date(Date.now() + MINUTE);
    CREDENTIALS["AKIDSTRONGROOMEXPIRING"] = { secretAccessKey: "expiring-secret-0123456789", expiration };
    let clock = expiration.getTime() - 1000;
    const front = await startFront(() => new Date(clock));
    const client = dynamo(front, { accessKeyId: "AKIDSTRONGROOMEXPIRING", secretAccessKey: "expiring-secret-0123456789" });
    expect((await client.send(new ListTablesCommand({}))).TableNames).toBeDefined();
    clock = expiration.getTime();
    const error = await failure(client.send(new ListTablesCommand({})));
    expect(error.name).toBe("ExpiredTokenException");
    expect(error.message).toBe("The security token included in the request is expired");
  });

  test("a request dated more than 5 minutes off is refused, and the SDK corrects its clock from the refusal's Date, as with AWS", async () => {
    const front = await startFront(() => new Date(Date.now() + 10 * MINUTE));
    const once = await failure(dynamo(front, valid).send(new ListTablesCommand({})));
    expect(once.name).toBe("InvalidSignatureException");
    expect(once.message).toMatch(/^Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z \(\d{8}T\d{6}Z - 5 min\.\)$/);
    // With retries, the second attempt is signed at the front's time and goes through.
    expect((await dynamo(front, valid, { maxAttempts: 2 }).send(new ListTablesCommand({}))).TableNames).toBeDefined();
    expect(front.rejected()).toHaveLength(2);

    const behind = await startFront(() => new Date(Date.now() - 10 * MINUTE));
    expect((await failure(dynamo(behind, valid).send(new ListTablesCommand({})))).message).toMatch(/^Signature not yet current: /);
  });
});
