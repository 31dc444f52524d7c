// The simulated EC2 Instance Metadata Service: enough of IMDSv2 for the parent to find its role
// credentials, its instance and its region, on a loopback port handed to the parent as
// AWS_EC2_METADATA_SERVICE_ENDPOINT.
//
// Behaviour, as AWS documents IMDS ("Use the Instance Metadata Service to access instance
// metadata", "Retrieve security credentials from instance metadata") and as the SDKs' IMDS clients
// expect it:
// - PUT /latest/api/token with X-aws-ec2-metadata-token-ttl-seconds 1–21600 → 200, an opaque token,
//   the TTL echoed in the same header; the header missing or out of range → 400; a PUT that carries
//   X-Forwarded-For (it came through a proxy) → 403;
// - GET with X-aws-ec2-metadata-token: a token that is unknown or expired → 401, whatever the
//   instance's setting; no token → 401 when tokens are required (HttpTokens=required, the
//   default here, as on current AMIs), served as IMDSv1 when optional;
// - methods other than GET, HEAD and the token PUT → 405; unknown paths → 404;
// - iam/security-credentials/ lists the role name; iam/security-credentials/<role> answers the
//   credential document (Code, LastUpdated, Type AWS-HMAC, AccessKeyId, SecretAccessKey, Token,
//   Expiration, times in whole seconds); both 404 with no role attached;
// - role credentials are rotated "at least five minutes before the expiration of the old
//   credentials": here exactly rotateBeforeMs (default 5 min) before, the latest moment AWS allows,
//   so that a client which waits for the last minute is caught. Old credentials stay valid in the
//   credential store until their own expiration.
// Not simulated: the PUT response's IP hop limit, throttling, IPv6, and every metadata category the
// parent does not read.
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { SIMULATED_INSTANCE_ID, SIMULATED_ROLE_ARN } from "@strongroom/nitro";
import { type IssuedCredentials, parseRoleArn, SimulatedCredentialStore } from "../iam/credential-store.ts";

export const IMDS_TOKEN_TTL_MAX_SECONDS = 21_600;
const HOUR_MS = 60 * 60_000;
/** Instance-profile credentials live about six hours. */
export const DEFAULT_CREDENTIAL_LIFETIME_MS = 6 * HOUR_MS;
/** The least warning AWS promises before old role credentials expire. */
export const DEFAULT_ROTATE_BEFORE_MS = 5 * 60_000;
/** Tokens kept at once; the oldest go first beyond this (IMDS's own bound is not published). */
const MAX_TOKENS = 10_000;
/** Requests remembered for tests to read. */
const REQUEST_LOG_LENGTH = 1_000;

/**
 * A fault for the next requests: an HTTP status, an answer that never comes (the client's timeout is
 * under test) or a connection reset. `target` picks the requests (default all), `times` how many
 * (default: until cleared).
 */
export interface ImdsFault {
  readonly kind: "status" | "hang" | "reset";
  /** For `status`; default 500. */
  readonly status?: number;
  readonly target?: "token" | "credentials" | "all";
  readonly times?: number;
}

export interface ImdsRequestRecord {
  readonly method: string;
  readonly path: string;
  /** 0 for a hang or reset. */
  readonly status: number;
  readonly token: "none" | "valid" | "invalid";
}

export interface ImdsSimulatorOptions {
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 0 (any free port). */
  readonly port?: number;
  /** The instance's role; default SIMULATED_ROLE_ARN (the role PCR3 measures); null for none. */
  readonly roleArn?: string | null;
  /** Default SIMULATED_INSTANCE_ID (the instance PCR4 measures). */
  readonly instanceId?: string;
  /** Default us-east-1. */
  readonly region?: string;
  /** Lifetime of each set of role credentials; default 6 h. */
  readonly credentialLifetimeMs?: number;
  /** New role credentials replace the old this long before the old expire; default 5 min. */
  readonly rotateBeforeMs?: number;
  /** HttpTokens: `required` (IMDSv2 only, the default) or `optional` (IMDSv1 served too). */
  readonly httpTokens?: "required" | "optional";
  /** Shared with the simulated services that check credentials; default a new store. */
  readonly store?: SimulatedCredentialStore;
  /** Default Date.now; the store keeps its own clock. */
  readonly now?: () => number;
}

const TOKEN_PATH = "/latest/api/token";
const CREDENTIALS_DIR = "/latest/meta-data/iam/security-credentials/";

function faultApplies(fault: ImdsFault, path: string): boolean {
  switch (fault.target ?? "all") {
    case "all":
      return true;
    case "token":
      return path === TOKEN_PATH;
    case "credentials":
      return path.startsWith(CREDENTIALS_DIR.slice(0, -1));
  }
}

const REGION = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;

const seconds = (date: Date) => date.toISOString().replace(/\.\d{3}Z$/, "Z");

/** IMDS writes its JSON with " : " between key and value; clients must not care, and this keeps them honest. */
const imdsJson = (fields: Record<string, string>) =>
  `{\n${Object.entries(fields)
    .map(([key, value]) => `  ${JSON.stringify(key)} : ${JSON.stringify(value)}`)
    .join(",\n")}\n}`;

export class ImdsSimulator {
  readonly store: SimulatedCredentialStore;
  readonly instanceId: string;
  readonly region: string;
  readonly #server: Server;
  readonly #now: () => number;
  readonly #lifetimeMs: number;
  readonly #rotateBeforeMs: number;
  readonly #httpTokens: "required" | "optional";
  readonly #tokens = new Map<string, number>();
  readonly #requests: ImdsRequestRecord[] = [];
  readonly #sockets = new Set<Socket>();
  #role: { arn: string; name: string; accountId: string } | null = null;
  #credentials: IssuedCredentials | undefined;
  #fault: (ImdsFault & { left: number }) | undefined;

  private constructor(server: Server, options: ImdsSimulatorOptions) {
    this.#server = server;
    this.store = options.store ?? new SimulatedCredentialStore();
    this.instanceId = options.instanceId ?? SIMULATED_INSTANCE_ID;
    this.region = options.region ?? "us-east-1";
    if (!REGION.test(this.region)) throw new Error(`region "${this.region}" is not an AWS region name`);
    this.#now = options.now ?? Date.now;
    this.#lifetimeMs = options.credentialLifetimeMs ?? DEFAULT_CREDENTIAL_LIFETIME_MS;
    this.#rotateBeforeMs = options.rotateBeforeMs ?? Math.min(DEFAULT_ROTATE_BEFORE_MS, this.#lifetimeMs / 2);
    if (!(this.#lifetimeMs > 0)) throw new RangeError("credentialLifetimeMs must be positive");
    if (!(this.#rotateBeforeMs >= 0 && this.#rotateBeforeMs < this.#lifetimeMs)) throw new RangeError("rotateBeforeMs must be at least 0 and less than credentialLifetimeMs");
    this.#httpTokens = options.httpTokens ?? "required";
    this.setRole(options.roleArn === undefined ? SIMULATED_ROLE_ARN : options.roleArn);
  }

  static async start(options: ImdsSimulatorOptions = {}): Promise<ImdsSimulator> {
    const server = createServer();
    const simulator = new ImdsSimulator(server, options);
    server.on("request", (req, res) => simulator.#handle(req, res));
    server.on("connection", (socket) => {
      simulator.#sockets.add(socket);
      socket.on("close", () => simulator.#sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
    return simulator;
  }

  /** The base URL, as the parent takes it in AWS_EC2_METADATA_SERVICE_ENDPOINT. */
  get url(): string {
    const { address, family, port } = this.#server.address() as AddressInfo;
    return `http://${family === "IPv6" ? `[${address}]` : address}:${port}`;
  }

  /** The environment that points AWS SDKs and the parent at this simulator. */
  environment(): Record<string, string> {
    return { AWS_EC2_METADATA_SERVICE_ENDPOINT: this.url };
  }

  /** Attaches a role (new credentials from the next request) or detaches it (null). */
  setRole(roleArn: string | null): void {
    if (roleArn === null) {
      this.#role = null;
    } else {
      this.#role = { arn: roleArn, ...parseRoleArn(roleArn) };
    }
    this.#credentials = undefined;
  }

  /** The role credentials IMDS serves at this moment (issued, or rotated, on demand). */
  credentials(): IssuedCredentials | undefined {
    if (this.#role === null) return undefined;
    const current = this.#credentials;
    if (current === undefined || this.#now() >= current.expiration.getTime() - this.#rotateBeforeMs) {
      this.#credentials = this.store.issue(this.#role.arn, this.#lifetimeMs);
    }
    return this.#credentials;
  }

  /** Replaces the role credentials now, ahead of schedule; the old stay valid until they expire. */
  rotate(): IssuedCredentials {
    if (this.#role === null) throw new Error("no role attached");
    this.#credentials = this.store.issue(this.#role.arn, this.#lifetimeMs);
    return this.#credentials;
  }

  /** Forgets every session token (as a stop and start of the instance does): the next GETs answer 401. */
  forgetTokens(): void {
    this.#tokens.clear();
  }

  setFault(fault: ImdsFault | null): void {
    this.#fault = fault === null ? undefined : { ...fault, left: fault.times ?? Infinity };
  }

  /** The requests answered so far (the last 1000), oldest first. */
  requests(): readonly ImdsRequestRecord[] {
    return [...this.#requests];
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const socket of this.#sockets) socket.destroy();
    await closed;
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? "/").split("?", 1)[0]!;
    const method = req.method ?? "GET";
    const tokenHeader = req.headers["x-aws-ec2-metadata-token"];
    const token = typeof tokenHeader !== "string" ? "none" : this.#validToken(tokenHeader) ? "valid" : "invalid";
    const record = (status: number) => {
      this.#requests.push({ method, path, status, token });
      if (this.#requests.length > REQUEST_LOG_LENGTH) this.#requests.shift();
    };
    // The body, if any, is not read: IMDS requests have none.
    req.resume();

    const fault = this.#fault;
    if (fault !== undefined && faultApplies(fault, path)) {
      if (--fault.left <= 0) this.#fault = undefined;
      if (fault.kind === "status") return this.#send(res, method, fault.status ?? 500, `${fault.status ?? 500} - simulated fault`, record);
      record(0);
      if (fault.kind === "reset") req.socket.destroy();
      return; // "hang": never answered; close() destroys the socket
    }

    if (path === TOKEN_PATH) {
      if (method !== "PUT") return this.#send(res, method, 405, "405 - Method Not Allowed", record);
      if (req.headers["x-forwarded-for"] !== undefined) return this.#send(res, method, 403, "403 - Forbidden", record);
      const ttlHeader = req.headers["x-aws-ec2-metadata-token-ttl-seconds"];
      const ttl = typeof ttlHeader === "string" && /^\d{1,5}$/.test(ttlHeader) ? Number(ttlHeader) : NaN;
      if (!(ttl >= 1 && ttl <= IMDS_TOKEN_TTL_MAX_SECONDS)) return this.#send(res, method, 400, "400 - Bad Request", record);
      return this.#send(res, method, 200, this.#issueToken(ttl), record, { "x-aws-ec2-metadata-token-ttl-seconds": String(ttl) });
    }
    if (method !== "GET" && method !== "HEAD") return this.#send(res, method, 405, "405 - Method Not Allowed", record);
    if (token === "invalid" || (token === "none" && this.#httpTokens === "required")) return this.#send(res, method, 401, "401 - Unauthorized", record);
    const body = this.#metadata(path);
    if (body === undefined) return this.#send(res, method, 404, "404 - Not Found", record);
    this.#send(res, method, 200, body, record);
  }

  #send(res: ServerResponse, method: string, status: number, body: string, record: (status: number) => void, headers: Record<string, string> = {}): void {
    record(status);
    res.writeHead(status, { "content-type": "text/plain", server: "EC2ws", "content-length": Buffer.byteLength(body), ...headers });
    res.end(method === "HEAD" ? undefined : body);
  }

  #issueToken(ttlSeconds: number): string {
    const now = this.#now();
    for (const [token, expiresAt] of this.#tokens) if (expiresAt <= now) this.#tokens.delete(token);
    while (this.#tokens.size >= MAX_TOKENS) this.#tokens.delete(this.#tokens.keys().next().value!);
    const token = randomBytes(42).toString("base64");
    this.#tokens.set(token, now + ttlSeconds * 1000);
    return token;
  }

  #validToken(token: string): boolean {
    const expiresAt = this.#tokens.get(token);
    return expiresAt !== undefined && this.#now() < expiresAt;
  }

  /** The metadata tree, as far as the parent reads it: a leaf answers its value, a directory the names one level below it ("/"-suffixed for directories). */
  #metadata(path: string): string | undefined {
    const role = this.#role;
    const zone = `${this.region}a`;
    const leaves: Record<string, () => string> = {
      "/latest/meta-data/instance-id": () => this.instanceId,
      "/latest/meta-data/instance-type": () => "m5.xlarge",
      "/latest/meta-data/placement/region": () => this.region,
      "/latest/meta-data/placement/availability-zone": () => zone,
      "/latest/dynamic/instance-identity/document": () =>
        JSON.stringify(
          {
            accountId: role?.accountId ?? "000000000000",
            architecture: "x86_64",
            availabilityZone: zone,
            imageId: "ami-0123456789abcdef0",
            instanceId: this.instanceId,
            instanceType: "m5.xlarge",
            pendingTime: "2026-01-01T00:00:00Z",
            privateIp: "10.0.0.10",
            region: this.region,
            version: "2017-09-30",
          },
          null,
          2,
        ),
    };
    if (role !== null) {
      leaves["/latest/meta-data/iam/info"] = () =>
        imdsJson({
          Code: "Success",
          LastUpdated: seconds(new Date(this.#now())),
          InstanceProfileArn: `arn:aws:iam::${role.accountId}:instance-profile/${role.name}`,
          InstanceProfileId: "AIPAZZZZZZZZZZZZZZZZZ",
        });
      leaves[`${CREDENTIALS_DIR}${role.name}`] = () => {
        const credentials = this.credentials()!;
        return imdsJson({
          Code: "Success",
          LastUpdated: seconds(credentials.issuedAt),
          Type: "AWS-HMAC",
          AccessKeyId: credentials.accessKeyId,
          SecretAccessKey: credentials.secretAccessKey,
          Token: credentials.sessionToken,
          Expiration: seconds(credentials.expiration),
        });
      };
    }
    const leaf = leaves[path];
    if (leaf !== undefined) return leaf();
    const prefix = path.endsWith("/") ? path : `${path}/`;
    const names = new Set<string>();
    for (const name of Object.keys(leaves)) {
      if (!name.startsWith(prefix)) continue;
      const rest = name.slice(prefix.length);
      names.add(rest.includes("/") ? `${rest.split("/", 1)[0]}/` : rest);
    }
    return names.size === 0 ? undefined : [...names].sort().join("\n");
  }
}
