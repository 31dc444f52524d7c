import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import { availableParallelism } from "node:os";
import { createAtlsServer } from "@strongroom/atls";
import type { NsmClient, Transport, TransportServer } from "@strongroom/nitro";
import { toHex, type Network } from "@strongroom/eth2";
import { blsPublicKey, KeystoreDecryptPool, loadKeys, type KeySources } from "@strongroom/keystore";
import type { Logger } from "pino";
import { openSlashingProtection, type OutboundOptions } from "@strongroom/slashing";
import { createApi, DEFAULT_HTTP_TIMEOUTS, type Api, type HttpTimeouts } from "./api.ts";
import type { TokenStore } from "./auth/index.ts";
import { AccessControl } from "./pipeline/access.ts";
import { Admission, type AdmissionLimits } from "./pipeline/admission.ts";
import { createMetricsServer } from "./routes/metrics.ts";
import { listen } from "./http/listen.ts";
import { servePlainOverTransport, serveTlsOverTransport } from "./http/transport-listener.ts";
import { SignerMetrics } from "./metrics.ts";
import { CanaryWatch } from "./pipeline/canary.ts";
import { SlashingGuard } from "./slashing/guard.ts";
import { KeyRegistry } from "./keys/registry.ts";
import type { BodyLimits, KeyLoadingStatus, SignerContext } from "./routes/context.ts";
import { SigningPool } from "./signing/signing-pool.ts";
import { SealedKeys } from "./vault/sealed-keys.ts";
import type { Vault, VaultStore } from "@strongroom/vault";

export interface InMemoryKey {
  /** Taken over by the signer and zeroed. */
  readonly secretKey: Uint8Array;
  readonly source: string;
}

export interface SignerOptions {
  readonly network: Network;
  /** Where the API listens: a TCP address (standard mode) or vsock ports (the enclave). */
  readonly listen: TcpListen | VsockListen;
  readonly keySources: KeySources;
  /** Keys handed over in memory (the demo keys of `strongroom sim`). */
  readonly inMemoryKeys?: readonly InMemoryKey[];
  /** The vault and its sealed key table: keys are loaded after every unseal (at boot automatically, by KMS, when it can). */
  readonly vault?: { readonly vault: Vault; readonly store: VaultStore; readonly loadSegments?: number };
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
  /** Prometheus metrics on a TCP port of their own (plain HTTP, counts only); over vsock they are always on. */
  readonly metrics?: TcpListen;
  /** Serve the API over attested TLS (DESIGN.md §6) instead of plain HTTP. */
  readonly atls?: AtlsServing;
  /** Serve the API over ordinary TLS (1.2 or later); excludes `atls`. */
  readonly tls?: TlsFiles;
  readonly log: Logger;
}

export interface TcpListen {
  readonly host: string;
  readonly port: number;
}

/** In the enclave: the API (attested TLS only) and metrics on vsock ports of this side's CID. */
export interface VsockListen {
  readonly transport: Transport;
  readonly apiPort: number;
  readonly metricsPort: number;
  /** The parent's ingress starts each stream with a PROXY v2 header. */
  readonly proxyProtocol: boolean;
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
  /** In the enclave: the database is reached through egress streams, over verified TLS. */
  readonly outbound?: OutboundOptions;
}

export interface RunningSigner {
  readonly url: string;
  /** Where Prometheus scrapes (`<metricsUrl>/metrics`), when metrics are on. */
  readonly metricsUrl?: string;
  readonly keys: KeyRegistry;
  /** Resolves when every key source has been read. */
  readonly keysLoaded: Promise<KeyLoadingStatus>;
  readonly sealedKeys?: SealedKeys;
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

  const sealedKeys = options.vault && new SealedKeys({ ...options.vault, keys, log, tokens: options.auth });
  if (sealedKeys !== undefined) metrics.watchVault(() => sealedKeys.vault.state, () => sealedKeys.progress().failed);
  const ctx: SignerContext = {
    network: options.network,
    keys,
    keystorePool,
    keyLoading: sealedKeys === undefined ? loading.progress : () => withSealedKeys(loading.progress(), sealedKeys),
    ...(sealedKeys !== undefined && { sealedKeys }),
    slashing,
    canary: new CanaryWatch(options.canaryKeys ?? [], options.sealOnCanary ?? false, log, (pubkey) => metrics.canarySignings.inc({ pubkey })),
    admission: new Admission({ ...defaultAdmissionLimits(), ...options.admission }, () => metrics.backpressureRejections.inc()),
    access: new AccessControl(options.auth, (reason) => metrics.countAuthRefusal(reason)),
    metrics,
    limits: { ...DEFAULT_LIMITS, ...options.limits },
    log,
  };
  const api = createApi(ctx, { timeouts: { ...DEFAULT_HTTP_TIMEOUTS, ...options.timeouts }, ...(options.atls && { attestation: options.atls.nsm }) });
  let served: ServedApi | undefined;
  let atls: AtlsDescription | undefined;
  try {
    atls = options.atls && (await describeAtls(options.atls));
    served = await serveApi(api, createMetricsServer(metrics.registry), options);
  } catch (error) {
    sealedKeys?.close();
    await Promise.all([signingPool.close(), keystorePool.close(), slashing?.close()]);
    throw error;
  }
  sealedKeys?.autoUnseal();
  const { url, metricsUrl } = served;
  log.info({ url, network: options.network.name, ...(metricsUrl && { metrics: `${metricsUrl}/metrics` }), ...(atls && { atls }) }, "signer listening");

  return {
    url,
    ...(metricsUrl !== undefined && { metricsUrl }),
    keys,
    keysLoaded,
    ...(sealedKeys !== undefined && { sealedKeys }),
    async close() {
      sealedKeys?.close();
      await served.close();
      await Promise.all([signingPool.close(), keystorePool.close(), slashing?.close()]);
    },
  };
}

/** Key sources and the sealed store together: loading is done when both are (the store's total is what it has loaded so far). */
function withSealedKeys(files: KeyLoadingStatus, sealed: SealedKeys): KeyLoadingStatus {
  const { loaded, failed, loading } = sealed.progress();
  return { total: files.total + loaded + failed, loaded: files.loaded + loaded, failed: files.failed + failed, done: files.done && !loading };
}

/** Opens the database and pins the network's genesis validators root in it before any key can sign. */
async function openSlashingGuard(options: SlashingProtectionOptions, network: Network, log: Logger, metrics: SignerMetrics): Promise<SlashingGuard> {
  const db = await openSlashingProtection(options.url, { operationTimeoutMs: options.timeoutMs, ...(options.outbound && { outbound: options.outbound }) });
  try {
    if (network.genesisValidatorsRoot !== undefined) await db.ensureGenesisValidatorsRoot(network.genesisValidatorsRoot);
  } catch (error) {
    await db.close();
    throw new Error(`slashing-protection database ${db.description}: ${(error as Error).message}`);
  }
  log.info({ database: db.description }, "slashing protection enabled");
  return new SlashingGuard(db, options.timeoutMs, log, metrics);
}

interface ServedApi {
  readonly url: string;
  readonly metricsUrl?: string;
  /** Stops listening, closes every connection and the certificate rotation. */
  close(): Promise<void>;
}

/** The one API on plain HTTP, ordinary TLS or attested TLS, over TCP or (attested only) vsock; and the metrics beside it. */
async function serveApi(api: Api, metricsServer: Server, options: SignerOptions): Promise<ServedApi> {
  const { requestListener, serverOptions } = api;
  const { listen: where } = options;
  const closers: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const closer of closers.reverse()) await closer();
  };
  const closeServer = (server: Server | HttpsServer) => () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  try {
    let server: Server | HttpsServer;
    let url: string;
    let metricsUrl: string | undefined;
    if ("transport" in where) {
      if (options.atls === undefined) throw new Error("over vsock the signer serves attested TLS only: give the atls options");
      const atls = await createAtlsServer(atlsServerOptions(api, options.atls, options));
      closers.push(async () => atls.stop());
      server = createServer(serverOptions, requestListener);
      const { transport, apiPort, metricsPort, proxyProtocol } = where;
      const listening: TransportServer = await serveTlsOverTransport(server, {
        transport,
        port: apiPort,
        proxyProtocol,
        secureContext: () => atls.secureContext(),
        handshakeTimeoutMs: api.serverOptions.headersTimeout ?? DEFAULT_HTTP_TIMEOUTS.headersMs,
        onRefused: (reason) => options.log.warn({ reason }, "API connection refused"),
      });
      closers.push(closeServer(server), () => listening.close());
      const metricsListening = await servePlainOverTransport(metricsServer, { transport, port: metricsPort });
      closers.push(closeServer(metricsServer), () => metricsListening.close());
      url = `vsock://${transport.kind === "simulated" ? "sim:" : ""}${apiPort}`;
      metricsUrl = `vsock://${transport.kind === "simulated" ? "sim:" : ""}${metricsPort}`;
    } else {
      let stop = () => {};
      if (options.atls !== undefined) {
        const atls = await createAtlsServer(atlsServerOptions(api, options.atls, options));
        server = atls.server;
        stop = () => atls.stop();
      } else if (options.tls !== undefined) {
        server = createTlsServer(api, options.tls);
      } else {
        server = createServer(serverOptions, requestListener);
      }
      closers.push(async () => stop(), closeServer(server));
      url = await listen(server, where.host, where.port, options.atls !== undefined || options.tls !== undefined ? "https" : "http");
      if (options.metrics !== undefined) {
        closers.push(closeServer(metricsServer));
        metricsUrl = await listen(metricsServer, options.metrics.host, options.metrics.port, "http");
      }
    }
    server.on("clientError", api.onClientError);
    return { url, ...(metricsUrl !== undefined && { metricsUrl }), close };
  } catch (error) {
    await close();
    throw error;
  }
}

function atlsServerOptions(api: Api, atls: AtlsServing, options: SignerOptions): Parameters<typeof createAtlsServer>[0] {
  return {
    nsm: atls.nsm,
    subjectAltNames: atls.subjectAltNames,
    ...(atls.rotateEveryMs !== undefined && { rotateEveryMs: atls.rotateEveryMs }),
    requestListener: api.requestListener,
    serverOptions: api.serverOptions,
    onRotationError: (error) => options.log.error({ err: error }, "aTLS certificate rotation failed; the current certificate stays until a retry succeeds"),
  };
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
