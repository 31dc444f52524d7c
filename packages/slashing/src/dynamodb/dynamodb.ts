/**
 * The DynamoDB backend: `dynamodb://TABLE?region=REGION&endpoint=URL`.
 * Credentials come from the AWS SDK's default chain (environment, profile,
 * instance or task role), never from the URL. Several signer instances may
 * share one table: see check.ts for how each check stays serialisable.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DEFAULT_OPERATION_TIMEOUT_MS, type OpenOptions } from "../open.ts";
import type {
  AttestationSigning,
  BlockSigning,
  Decision,
  ImportSummary,
  Interchange,
  PruneSummary,
  SlashingProtection,
} from "../protection.ts";
import { SlashingDatabaseError, SlashingProtectionError } from "../protection.ts";
import { checkAndRecordAttestation, checkAndRecordBlock } from "./check.ts";
import { requireGenesisRoot } from "./genesis.ts";
import { META_KEY, n, stateKey, validatorPk } from "./layout.ts";
import { BULK_CONCURRENCY, forEachLimited } from "./parallel.ts";
import { prune } from "./prune.ts";
import { KeyedQueue } from "./queue.ts";
import { parseDynamoLocation } from "./location.ts";
import { outboundRequestHandler } from "./outbound-handler.ts";
import { ensureTable } from "./setup.ts";
import { Table } from "./table.ts";
import { exportInterchange, importInterchange } from "./transfer.ts";

/** SDK-level attempts per request (throttling, dropped connections); the operation's deadline caps them all. */
const SDK_MAX_ATTEMPTS = 3;

class DynamoSlashingProtection implements SlashingProtection {
  readonly description: string;
  readonly #table: Table;
  readonly #attestationQueue = new KeyedQueue();
  #closed = false;

  constructor(table: Table, description: string) {
    this.#table = table;
    this.description = description;
  }

  /** The table, once it is known to be open. */
  #use(): Table {
    if (this.#closed) throw new SlashingDatabaseError(`${this.description} is closed`);
    return this.#table;
  }

  /** Runs a whole operation under one deadline of operationTimeoutMs. */
  async #bounded<T>(run: (table: Table, signal: AbortSignal) => Promise<T>): Promise<T> {
    const table = this.#use();
    return run(table, table.deadline());
  }

  ensureGenesisValidatorsRoot(genesisValidatorsRoot: Uint8Array): Promise<void> {
    return this.#bounded((table, signal) => requireGenesisRoot(table, genesisValidatorsRoot, signal));
  }

  checkAndRecordBlock(block: BlockSigning): Promise<Decision> {
    return this.#bounded((table, signal) => checkAndRecordBlock(table, block, signal));
  }

  checkAndRecordAttestation(attestation: AttestationSigning): Promise<Decision> {
    return this.#bounded((table, signal) =>
      this.#attestationQueue.run(table, validatorPk(attestation.publicKey), signal, () => checkAndRecordAttestation(table, attestation, signal)),
    );
  }

  async importInterchange(interchange: Interchange): Promise<ImportSummary> {
    return importInterchange(this.#use(), interchange);
  }

  async exportInterchange(publicKeys?: readonly Uint8Array[]): Promise<Interchange> {
    return exportInterchange(this.#use(), publicKeys);
  }

  /** Bumps attSeq too, so that an attestation check in flight re-reads and sees the validator disabled. */
  async setValidatorsEnabled(publicKeys: readonly Uint8Array[], enabled: boolean): Promise<void> {
    const table = this.#use();
    await forEachLimited(new Set(publicKeys.map(validatorPk)), BULK_CONCURRENCY, async (pk) => {
      await table.update(stateKey(pk), {
        expression: "SET disabled = :disabled, attSeq = if_not_exists(attSeq, :zero) + :one",
        values: { ":disabled": { BOOL: !enabled }, ":zero": n(0n), ":one": n(1n) },
      });
    });
  }

  async prune(keepEpochs: bigint, slotsPerEpoch: bigint): Promise<PruneSummary> {
    return prune(this.#use(), keepEpochs, slotsPerEpoch);
  }

  async ping(): Promise<void> {
    await this.#bounded((table, signal) => table.get(META_KEY, signal));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#table.client.destroy();
  }
}

/**
 * Opens (creating if needed) the table named by the URL. Every request is
 * cut off after operationTimeoutMs at the socket, and every check, ensure and
 * ping as a whole; bulk operations (import, export, prune, disable) bound
 * each of their requests instead.
 */
export async function openDynamo(url: URL, options: OpenOptions): Promise<SlashingProtection> {
  const location = parseDynamoLocation(url);
  const timeoutMs = options.operationTimeoutMs ?? DEFAULT_OPERATION_TIMEOUT_MS;
  const { outbound } = options;
  if (outbound !== undefined && location.endpoint?.protocol === "http:") {
    throw new SlashingProtectionError("slashing-protection database URL: the endpoint must be https:// here; the enclave talks to DynamoDB only over verified TLS");
  }
  const client = new DynamoDBClient({
    ...(location.region !== undefined && { region: location.region }),
    ...(location.endpoint !== undefined && { endpoint: location.endpoint.href }),
    maxAttempts: SDK_MAX_ATTEMPTS,
    requestHandler:
      outbound === undefined ? { connectionTimeout: timeoutMs, requestTimeout: timeoutMs, throwOnRequestTimeout: true } : outboundRequestHandler(outbound, timeoutMs),
    ...(outbound?.awsCredentials !== undefined && { credentials: outbound.awsCredentials }),
  });
  const table = new Table(client, location.table, timeoutMs);
  try {
    await ensureTable(table);
  } catch (error) {
    client.destroy();
    throw error;
  }
  const query = [location.region && `region=${location.region}`, location.endpoint && `endpoint=${location.endpoint.origin}`].filter(Boolean).join("&");
  return new DynamoSlashingProtection(table, `dynamodb://${location.table}${query ? `?${query}` : ""}`);
}
