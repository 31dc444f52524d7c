import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { availableParallelism } from "node:os";
import { toHex, type Network } from "@strongroom/eth2";
import { blsPublicKey, KeystoreDecryptPool, loadKeys, type KeySources } from "@strongroom/keystore";
import type { Logger } from "pino";
import { openSlashingProtection } from "@strongroom/slashing";
import { createApiServer, DEFAULT_HTTP_TIMEOUTS, type HttpTimeouts } from "./api.ts";
import type { TokenStore } from "./auth/index.ts";
import { AccessControl } from "./pipeline/access.ts";
import { Admission, type AdmissionLimits } from "./pipeline/admission.ts";
import { handleMetrics } from "./routes/metrics.ts";
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
  readonly log: Logger;
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
  const server = createApiServer(ctx, { ...DEFAULT_HTTP_TIMEOUTS, ...options.timeouts });
  const metricsServer = options.metrics && createMetricsServer(metrics);
  let url: string;
  let metricsUrl: string | undefined;
  try {
    url = await listen(server, options.host, options.port);
    if (metricsServer) metricsUrl = await listen(metricsServer, options.metrics!.host, options.metrics!.port);
  } catch (error) {
    server.close();
    await Promise.all([signingPool.close(), keystorePool.close(), slashing?.close()]);
    throw error;
  }
  log.info({ url, network: options.network.name, ...(metricsUrl && { metrics: `${metricsUrl}/metrics` }) }, "signer listening");

  return {
    url,
    ...(metricsUrl !== undefined && { metricsUrl }),
    keys,
    keysLoaded,
    async close() {
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

/** Listens and returns the server's URL. */
async function listen(server: Server, host: string, port: number): Promise<string> {
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (error) {
    throw new Error(`cannot listen on ${host}:${port}: ${(error as Error).message}`);
  }
  const address = server.address() as AddressInfo;
  return `http://${address.family === "IPv6" ? `[${address.address}]` : address.address}:${address.port}`;
}

/** GET /metrics in Prometheus' text format; nothing else. Counts only, so no token is asked for. */
function createMetricsServer(metrics: SignerMetrics): Server {
  return createServer((req, res) => {
    if (req.method !== "GET" || req.url !== "/metrics") {
      res.writeHead(404).end();
      return;
    }
    handleMetrics(metrics, res);
  });
}
