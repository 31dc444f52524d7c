import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import { availableParallelism } from "node:os";
import { createAtlsServer } from "@strongroom/atls";
import type { NsmClient } from "@strongroom/nitro";
import { toHex, type Network } from "@strongroom/eth2";
import { blsPublicKey, KeystoreDecryptPool, loadKeys, type KeySources } from "@strongroom/keystore";
import type { Logger } from "pino";
import { openSlashingProtection } from "@strongroom/slashing";
import { createApi, DEFAULT_HTTP_TIMEOUTS, type Api, type HttpTimeouts } from "./api.ts";
import type { TokenStore } from "./auth/index.ts";
import { AccessControl } from "./pipeline/access.ts";
import { Admission, type AdmissionLimits } from "./pipeline/admission.ts";
import { createMetricsServer } from "./routes/metrics.ts";
import { listen } from "./http/listen.ts";
import { SignerMetrics } from "./metrics.ts";
import { CanaryWatch } from "./pipeline/canary.ts";
import { SlashingGuard } from "./slashing/guard.ts";
import { KeyRegistry } from "./keys/registry.ts";
import type { BodyLimits, KeyLoadingStatus, SignerContext } from "./routes/context.ts";
import { SigningPool } from "./signing/signing-pool.ts";

export interface InMemoryKey {
  /** Taken over by the signer and zeroed. */
  readonly secretKey: Uint8Array;
  readonly source: string;
}

export interface SignerOptions {
  readonly network: Network;
  readonly host: string;
  readonly port: number;
  readonly keySources: KeySources;
  /** Keys handed over in memory (the demo keys of `strongroom sim`). */
  readonly inMemoryKeys?: readonly InMemoryKey[];
  /** Tokens and policies: who may use which key for what (and the unauthenticated policy, if configured). */
  readonly auth: TokenStore;
  /** The slashing-protection database; undefined only when the operator disabled protection. */
  readonly slashingProtection: SlashingProtectionOptions | undefined;
  /** Public keys (canonical 0x hex) that no legitimate client names. */
  readonly canaryKeys?: readonly string[];
  /** Stop all signing when a canary key is named. */
  readonly sealOnCanary?: boolean;
  readonly signingThreads?: number;
  readonly decryptionThreads?: number;
  readonly limits?: Partial<BodyLimits>;
  readonly admission?: Partial<AdmissionLimits>;
  readonly timeouts?: Partial<HttpTimeouts>;
  /** Prometheus metrics on a port of their own (plain HTTP, counts only). */
  readonly metrics?: { readonly host: string; readonly port: number };
  /** Serve the API over attested TLS (DESIGN.md §6) instead of plain HTTP. */
  readonly atls?: AtlsServing;
  /** Serve the API over ordinary TLS (1.2 or later); excludes `atls`. */
  readonly tls?: TlsFiles;
  readonly log: Logger;
}

export interface AtlsServing {
  /** The NSM that attests each certificate and answers fresh-attestation requests. */
  readonly nsm: NsmClient;
  /** DNS names and IP addresses for the certificate's subjectAltName. */
  readonly subjectAltNames: readonly string[];
  /** How often a new key, document and certificate replace the current ones. */
  readonly rotateEveryMs?: number;
  /** For the start-up log line: the root clients must trust (a simulator's PEM file); AWS Nitro Enclaves Root G1 when absent. */
  readonly root?: string;
}

/** A PEM private key and the PEM certificate (chain) for it. */
export interface TlsFiles {
  readonly keyFile: string;
  readonly certFile: string;
}

export interface SlashingProtectionOptions {
  /** postgres://…, pglite:///dir, pglite:memory or dynamodb://table?… */
  readonly url: string;
  /** Bound on one database operation; past it blocks and attestations get 503. */
  readonly timeoutMs: number;
}

export interface RunningSigner {
  readonly url: string;
  /** Where Prometheus scrapes (`<metricsUrl>/metrics`), when metrics are on. */
  readonly metricsUrl?: string;
  readonly keys: KeyRegistry;
  /** Resolves when every key source has been read. */
  readonly keysLoaded: Promise<KeyLoadingStatus>;
  close(): Promise<void>;
}

const DEFAULT_LIMITS: BodyLimits = { signBytes: 1 << 20, keymanagerBytes: 32 << 20 };

/**
 * Sized for the machine: enough signings in flight to keep every core and the
 * database round trips busy (a few ms each), a queue that absorbs a burst of a
 * whole epoch's duties, and a deadline well inside an attestation's window.
 */
export function defaultAdmissionLimits(): AdmissionLimits {
  return { maxConcurrent: 32 * availableParallelism(), maxQueued: 4096, queueDeadlineMs: 2_000 };
}

/**
 * Starts the signing core as an ordinary process (standard mode): the API
 * answers at once, and each key becomes usable as soon as it is decrypted.
 */
export async function startSigner(options: SignerOptions): Promise<RunningSigner> {
  const { log } = options;
  if (options.atls !== undefined && options.tls !== undefined) throw new Error("the signer serves attested TLS or ordinary TLS, not both");
  // Read at scrape time, once the key registry and loading below exist.
  const metrics = new SignerMetrics(() => ({ ...loading.progress(), active: keys.size }));
  const slashing = options.slashingProtection && (await openSlashingGuard(options.slashingProtection, options.network, log, metrics));
  const signingPool = new SigningPool(options.signingThreads);
  const keystorePool = new KeystoreDecryptPool(options.decryptionThreads);
  const keys = new KeyRegistry(signingPool);

  for (const { secretKey, source } of options.inMemoryKeys ?? []) {
    keys.add({ publicKey: toHex(blsPublicKey(secretKey, source)), source, readonly: true, derivationPath: "" }, secretKey);
  }

  const loading = loadKeys(
    options.keySources,
    {
      onKey: ({ publicKey, secretKey, source, derivationPath = "" }) => {
        const hex = toHex(publicKey);
        if (!keys.add({ publicKey: hex, source, readonly: true, derivationPath }, secretKey)) {
          log.warn({ publicKey: hex, source }, "duplicate key ignored: already loaded from another source");
        } else {
          log.debug({ publicKey: hex, source }, "key loaded");
        }
      },
      onFailure: ({ source, message }) => log.error({ source, reason: message }, "key could not be loaded"),
    },
    { pool: keystorePool },
  );
  const keysLoaded = loading.done.then((status) => {
    log.info(status, "key loading finished");
    return status;
  });

  const ctx: SignerContext = {
    network: options.network,
    keys,
    keystorePool,
    keyLoading: loading.progress,
    slashing,
    canary: new CanaryWatch(options.canaryKeys ?? [], options.sealOnCanary ?? false, log, (pubkey) => metrics.canarySignings.inc({ pubkey })),
    admission: new Admission({ ...defaultAdmissionLimits(), ...options.admission }, () => metrics.backpressureRejections.inc()),
    access: new AccessControl(options.auth, (reason) => metrics.countAuthRefusal(reason)),
    metrics,
    limits: { ...DEFAULT_LIMITS, ...options.limits },
    log,
  };
  const api = createApi(ctx, { timeouts: { ...DEFAULT_HTTP_TIMEOUTS, ...options.timeouts }, ...(options.atls && { attestation: options.atls.nsm }) });
  const metricsServer = options.metrics && createMetricsServer(metrics.registry);
  let served: ApiServer | undefined;
  let url: string;
  let metricsUrl: string | undefined;
  let atls: AtlsDescription | undefined;
  try {
    atls = options.atls && (await describeAtls(options.atls));
    served = await createApiServer(api, options);
    url = await listen(served.server, options.host, options.port, served.scheme);
    if (metricsServer) metricsUrl = await listen(metricsServer, options.metrics!.host, options.metrics!.port, "http");
  } catch (error) {
    served?.stop();
    served?.server.close();
    await Promise.all([signingPool.close(), keystorePool.close(), slashing?.close()]);
    throw error;
  }
  const { server, stop } = served;
  log.info({ url, network: options.network.name, ...(metricsUrl && { metrics: `${metricsUrl}/metrics` }), ...(atls && { atls }) }, "signer listening");

  return {
    url,
    ...(metricsUrl !== undefined && { metricsUrl }),
    keys,
    keysLoaded,
    async close() {
      stop();
      metricsServer?.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await Promise.all([signingPool.close(), keystorePool.close(), slashing?.close()]);
    },
  };
}

/** Opens the database and pins the network's genesis validators root in it before any key can sign. */
async function openSlashingGuard(options: SlashingProtectionOptions, network: Network, log: Logger, metrics: SignerMetrics): Promise<SlashingGuard> {
  const db = await openSlashingProtection(options.url, { operationTimeoutMs: options.timeoutMs });
  try {
    if (network.genesisValidatorsRoot !== undefined) await db.ensureGenesisValidatorsRoot(network.genesisValidatorsRoot);
  } catch (error) {
    await db.close();
    throw new Error(`slashing-protection database ${db.description}: ${(error as Error).message}`);
  }
  log.info({ database: db.description }, "slashing protection enabled");
  return new SlashingGuard(db, options.timeoutMs, log, metrics);
}

interface ApiServer {
  readonly server: Server | HttpsServer;
  readonly scheme: "http" | "https";
  /** Stops what runs beside the server (certificate rotation). */
  stop(): void;
}

/** The one API on plain HTTP, ordinary TLS or attested TLS. */
async function createApiServer(api: Api, options: SignerOptions): Promise<ApiServer> {
  const { requestListener, serverOptions } = api;
  let served: ApiServer;
  if (options.atls !== undefined) {
    const { nsm, subjectAltNames, rotateEveryMs } = options.atls;
    const atls = await createAtlsServer({
      nsm,
      subjectAltNames,
      ...(rotateEveryMs !== undefined && { rotateEveryMs }),
      requestListener,
      serverOptions,
      onRotationError: (error) => options.log.error({ err: error }, "aTLS certificate rotation failed; the current certificate stays until a retry succeeds"),
    });
    served = { server: atls.server, scheme: "https", stop: () => atls.stop() };
  } else if (options.tls !== undefined) {
    served = { server: createTlsServer(api, options.tls), scheme: "https", stop: () => {} };
  } else {
    served = { server: createServer(serverOptions, requestListener), scheme: "http", stop: () => {} };
  }
  served.server.on("clientError", api.onClientError);
  return served;
}

function createTlsServer({ requestListener, serverOptions }: Api, { keyFile, certFile }: TlsFiles): HttpsServer {
  const read = (path: string, what: string) => {
    try {
      return readFileSync(path);
    } catch (error) {
      throw new Error(`cannot read the TLS ${what} ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  };
  const cert = read(certFile, "certificate");
  const key = read(keyFile, "key");
  try {
    return createHttpsServer({ ...serverOptions, key, cert, minVersion: "TLSv1.2" }, requestListener);
  } catch (error) {
    throw new Error(`cannot serve TLS with the key ${keyFile} and the certificate ${certFile} (PEM files of one key pair): ${(error as Error).message}`);
  } finally {
    key.fill(0);
  }
}

/** For the start-up log line: the root to trust, and the PCRs the NSM reports for this image as a PCR manifest (what clients pin). */
interface AtlsDescription {
  readonly root: string;
  readonly pcrs: Record<string, string>;
}

async function describeAtls({ nsm, root }: AtlsServing): Promise<AtlsDescription> {
  const pcrs: Record<string, string> = {};
  for (const index of [0, 1, 2]) pcrs[`PCR${index}`] = Buffer.from((await nsm.describePcr(index)).value).toString("hex");
  return { root: root ?? "AWS Nitro Enclaves Root G1", pcrs };
}
