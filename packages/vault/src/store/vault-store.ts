/**
 * The vault's DynamoDB store (DESIGN.md §7): sealed validator keys, one item
 * each, and the signer-state document. Everything written here is either
 * public (public keys, status, timestamps, the state document, which holds
 * wrapped shares and metadata, never plaintext secrets) or sealed (the
 * 61-byte AES-256-GCM envelope of `sealValidatorKey`). The parent instance,
 * which relays DynamoDB traffic, is untrusted: items read back are checked
 * for shape here, and their contents are authenticated one level up (a
 * sealed key opens only for its public key under the master key).
 */
import {
  type AttributeValue,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  type PutItemCommandInput,
  ScanCommand,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import { ENVELOPE_VERSION, SEALED_VALIDATOR_KEY_BYTES, VALIDATOR_PUBLIC_KEY_BYTES } from "../envelope.ts";
import { VaultConflictError, VaultError } from "../errors.ts";
import { Dynamo } from "./dynamo.ts";

type Item = Record<string, AttributeValue>;

export type KeyStatus = "active" | "inactive";

/** A validator public key: 48 bytes, or their hex (with or without 0x, any case). */
export type PublicKeyInput = Uint8Array | string;

export interface KeyMetadata {
  readonly publicKey: Uint8Array;
  /** Lowercase hex without 0x, as stored in `pk`. */
  readonly publicKeyHex: string;
  readonly status: KeyStatus;
  /** ISO 8601. */
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface KeyRecord extends KeyMetadata {
  /** The sealed envelope (ciphertext; opened with `openValidatorKey`). */
  readonly sealed: Uint8Array;
}

export interface StoredState {
  readonly state: unknown;
  readonly version: number;
}

export interface VaultStoreOptions {
  /** A configured client (region, credentials, endpoint); the store never closes it. */
  readonly client: DynamoDBClient;
  readonly keysTable: string;
  readonly stateTable: string;
  /** Bound of each request (ms); default 30 s. */
  readonly requestTimeoutMs?: number;
  /** Clock for createdAt/updatedAt; default `new Date()`. */
  readonly now?: () => Date;
}

/**
 * DynamoDB refuses items over 400 KB (names and values together). The state
 * document is refused well before that, at 350 KiB of UTF-8 JSON, with a
 * clear error instead of DynamoDB's ValidationException; that leaves room
 * for the other attributes and for a caller that measures differently.
 */
export const MAX_STATE_BYTES = 350 * 1024;
/** Parallel scan segments: 1..64 (DynamoDB allows up to 1,000,000; 64 already saturates one client). */
export const MAX_SCAN_SEGMENTS = 64;
export const DEFAULT_SCAN_SEGMENTS = 8;
export const SIGNER_STATE_PK = "signer-state";

const STATE_ITEM = /^[a-z][a-z0-9-]{0,63}$/;
const TABLE_NAME = /^[A-Za-z0-9_.-]{3,255}$/;
const PK_HEX = /^[0-9a-f]{96}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z$/;

/** Attribute names go through #placeholders: "status" is a DynamoDB reserved word. */
const NAMES = { "#pk": "pk", "#sealed": "sealed", "#status": "status", "#createdAt": "createdAt", "#updatedAt": "updatedAt" };

function publicKeyHex(publicKey: PublicKeyInput): string {
  if (publicKey instanceof Uint8Array) {
    if (publicKey.length !== VALIDATOR_PUBLIC_KEY_BYTES) throw new VaultError(`validator public key must be ${VALIDATOR_PUBLIC_KEY_BYTES} bytes`);
    return Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.byteLength).toString("hex");
  }
  if (typeof publicKey === "string") {
    const hex = (publicKey.startsWith("0x") || publicKey.startsWith("0X") ? publicKey.slice(2) : publicKey).toLowerCase();
    if (PK_HEX.test(hex)) return hex;
  }
  throw new VaultError(`validator public key must be ${VALIDATOR_PUBLIC_KEY_BYTES} bytes or their hex`);
}

/** State items are named by the code, never by a request; the check keeps them from looking like validator keys. */
function checkItem(item: string): string {
  if (!STATE_ITEM.test(item)) throw new VaultError(`state item name "${item.slice(0, 70)}" is not 1-64 of a-z 0-9 - starting with a letter`);
  return item;
}

function checkSealed(sealed: unknown, what: string): asserts sealed is Uint8Array {
  if (!(sealed instanceof Uint8Array) || sealed.length !== SEALED_VALIDATOR_KEY_BYTES || sealed[0] !== ENVELOPE_VERSION) {
    throw new VaultError(`${what}: sealed key must be a ${SEALED_VALIDATOR_KEY_BYTES}-byte envelope of version ${ENVELOPE_VERSION}`);
  }
}

function checkStatus(status: unknown): asserts status is KeyStatus {
  if (status !== "active" && status !== "inactive") throw new VaultError(`key status must be "active" or "inactive"`);
}

/** Shape check of a key item read back (the parent could have edited it). */
function parseKeyItem(item: Item, table: string, withSealed: boolean): KeyRecord | KeyMetadata {
  const pk = item["pk"]?.S;
  if (pk === undefined || !PK_HEX.test(pk)) throw new VaultError(`DynamoDB table "${table}" holds an item whose pk is not a validator public key`);
  const status = item["status"]?.S;
  const createdAt = item["createdAt"]?.S;
  const updatedAt = item["updatedAt"]?.S;
  if ((status !== "active" && status !== "inactive") || createdAt === undefined || !ISO.test(createdAt) || updatedAt === undefined || !ISO.test(updatedAt)) {
    throw new VaultError(`DynamoDB table "${table}": the item of validator key 0x${pk} is malformed (status or timestamps)`);
  }
  const metadata: KeyMetadata = { publicKey: new Uint8Array(Buffer.from(pk, "hex")), publicKeyHex: pk, status, createdAt, updatedAt };
  if (!withSealed) return metadata;
  const sealed = item["sealed"]?.B;
  checkSealed(sealed, `DynamoDB table "${table}", validator key 0x${pk}`);
  return { ...metadata, sealed };
}

function checkPageSize(pageSize: unknown): number | undefined {
  if (pageSize === undefined) return undefined;
  if (typeof pageSize !== "number" || !Number.isInteger(pageSize) || pageSize < 1) throw new VaultError("pageSize must be a positive integer");
  return pageSize;
}

export class VaultStore {
  readonly keysTable: string;
  readonly stateTable: string;
  readonly #dynamo: Dynamo;
  readonly #now: () => Date;

  constructor(options: VaultStoreOptions) {
    for (const [what, name] of [
      ["keysTable", options.keysTable],
      ["stateTable", options.stateTable],
    ] as const) {
      if (typeof name !== "string" || !TABLE_NAME.test(name)) throw new VaultError(`${what} must be a DynamoDB table name (3-255 of A-Z a-z 0-9 _ . -)`);
    }
    if (options.keysTable === options.stateTable) throw new VaultError("keysTable and stateTable must differ");
    const timeout = options.requestTimeoutMs ?? 30_000;
    if (!Number.isInteger(timeout) || timeout < 1) throw new VaultError("requestTimeoutMs must be a positive integer");
    this.keysTable = options.keysTable;
    this.stateTable = options.stateTable;
    this.#dynamo = new Dynamo(options.client, timeout);
    this.#now = options.now ?? (() => new Date());
  }

  get #client(): DynamoDBClient {
    return this.#dynamo.client;
  }

  /** Create both tables if missing (on-demand billing) and wait until they are ACTIVE. */
  async ensureTables(): Promise<void> {
    await Promise.all([this.#dynamo.ensureTable(this.keysTable), this.#dynamo.ensureTable(this.stateTable)]);
  }

  // ---- validator keys ----

  /** Store a new sealed key (status "active" unless told). Refused if the public key is already stored. */
  async putKey(publicKey: PublicKeyInput, sealed: Uint8Array, options: { status?: KeyStatus } = {}): Promise<void> {
    const pk = publicKeyHex(publicKey);
    checkSealed(sealed, `validator key 0x${pk}`);
    const status = options.status ?? "active";
    checkStatus(status);
    const at = this.#now().toISOString();
    const table = this.keysTable;
    const written = await this.#dynamo.conditional("PutItem", table, (abortSignal) =>
      this.#client.send(
        new PutItemCommand({
          TableName: table,
          Item: { pk: { S: pk }, sealed: { B: sealed }, status: { S: status }, createdAt: { S: at }, updatedAt: { S: at } },
          ConditionExpression: "attribute_not_exists(#pk)",
          ExpressionAttributeNames: { "#pk": "pk" },
        }),
        { abortSignal },
      ),
    );
    if (!written) throw new VaultError(`validator key 0x${pk} is already in the store; delete it first to replace it`);
  }

  /** Mark a stored key active or inactive (inactive keys are not loaded at unseal). */
  async setStatus(publicKey: PublicKeyInput, status: KeyStatus): Promise<void> {
    const pk = publicKeyHex(publicKey);
    checkStatus(status);
    const table = this.keysTable;
    const updated = await this.#dynamo.conditional("UpdateItem", table, (abortSignal) =>
      this.#client.send(
        new UpdateItemCommand({
          TableName: table,
          Key: { pk: { S: pk } },
          UpdateExpression: "SET #status = :status, #updatedAt = :at",
          ConditionExpression: "attribute_exists(#pk)",
          ExpressionAttributeNames: { "#pk": "pk", "#status": "status", "#updatedAt": "updatedAt" },
          ExpressionAttributeValues: { ":status": { S: status }, ":at": { S: this.#now().toISOString() } },
        }),
        { abortSignal },
      ),
    );
    if (!updated) throw new VaultError(`validator key 0x${pk} is not in the store`);
  }

  /** Delete a key; true if it was there. */
  async deleteKey(publicKey: PublicKeyInput): Promise<boolean> {
    const pk = publicKeyHex(publicKey);
    const table = this.keysTable;
    const out = await this.#dynamo.call("DeleteItem", table, (abortSignal) =>
      this.#client.send(new DeleteItemCommand({ TableName: table, Key: { pk: { S: pk } }, ReturnValues: "ALL_OLD" }), { abortSignal }),
    );
    return out.Attributes !== undefined;
  }

  /** One key with its sealed envelope (strongly consistent read), or undefined. */
  async getKey(publicKey: PublicKeyInput): Promise<KeyRecord | undefined> {
    const pk = publicKeyHex(publicKey);
    const table = this.keysTable;
    const out = await this.#dynamo.call("GetItem", table, (abortSignal) =>
      this.#client.send(new GetItemCommand({ TableName: table, Key: { pk: { S: pk } }, ConsistentRead: true }), { abortSignal }),
    );
    if (out.Item === undefined) return undefined;
    const record = parseKeyItem(out.Item, table, true) as KeyRecord;
    if (record.publicKeyHex !== pk) throw new VaultError(`DynamoDB table "${table}" answered for another key than 0x${pk}`);
    return record;
  }

  /** Metadata of every stored key (no envelopes), sorted by public key; a paginated Scan. */
  async listKeys(options: { pageSize?: number } = {}): Promise<KeyMetadata[]> {
    const limit = checkPageSize(options.pageSize);
    const table = this.keysTable;
    const keys: KeyMetadata[] = [];
    let start: Item | undefined;
    do {
      const exclusiveStart = start;
      const out = await this.#dynamo.call("Scan", table, (abortSignal) =>
        this.#client.send(
          new ScanCommand({
            TableName: table,
            ProjectionExpression: "#pk, #status, #createdAt, #updatedAt",
            ExpressionAttributeNames: { "#pk": NAMES["#pk"], "#status": NAMES["#status"], "#createdAt": NAMES["#createdAt"], "#updatedAt": NAMES["#updatedAt"] },
            ConsistentRead: true,
            ExclusiveStartKey: exclusiveStart,
            Limit: limit,
          }),
          { abortSignal },
        ),
      );
      for (const item of out.Items ?? []) keys.push(parseKeyItem(item, table, false));
      start = out.LastEvaluatedKey;
    } while (start !== undefined);
    return keys.sort((a, b) => (a.publicKeyHex < b.publicKeyHex ? -1 : a.publicKeyHex > b.publicKeyHex ? 1 : 0));
  }

  /**
   * Stream every active key to `onKey`, for unseal: a parallel Scan of
   * `segments` segments (default 8), each paging on its own, strongly
   * consistent. `onKey` may be async (it is awaited: back-pressure per
   * segment); its calls from different segments interleave. The first error
   * (a malformed item, a failed request, `onKey` throwing) cancels the other
   * segments and is thrown once they have stopped. Returns how many keys
   * were delivered.
   */
  async loadActive(
    onKey: (publicKey: Uint8Array, sealed: Uint8Array) => void | Promise<void>,
    options: {
      segments?: number;
      pageSize?: number;
      /**
       * An active item of a known public key that is malformed (its envelope
       * cut short, say) goes here instead of stopping the load, so that one
       * damaged item keeps only its own key out. Without it, it is an error.
       */
      onMalformed?: (publicKeyHex: string, reason: string) => void;
    } = {},
  ): Promise<number> {
    const segments = options.segments ?? DEFAULT_SCAN_SEGMENTS;
    if (!Number.isInteger(segments) || segments < 1 || segments > MAX_SCAN_SEGMENTS) {
      throw new VaultError(`segments must be an integer from 1 to ${MAX_SCAN_SEGMENTS}`);
    }
    const limit = checkPageSize(options.pageSize);
    const table = this.keysTable;
    const stop = new AbortController();
    let delivered = 0;

    const scanSegment = async (segment: number): Promise<void> => {
      let start: Item | undefined;
      do {
        if (stop.signal.aborted) return;
        const exclusiveStart = start;
        const out = await this.#dynamo.call(
          "Scan",
          table,
          (abortSignal) =>
            this.#client.send(
              new ScanCommand({
                TableName: table,
                Segment: segment,
                TotalSegments: segments,
                FilterExpression: "#status = :active",
                ProjectionExpression: "#pk, #sealed, #status, #createdAt, #updatedAt",
                ExpressionAttributeNames: NAMES,
                ExpressionAttributeValues: { ":active": { S: "active" } },
                ConsistentRead: true,
                ExclusiveStartKey: exclusiveStart,
                Limit: limit,
              }),
              { abortSignal },
            ),
          stop.signal,
        );
        for (const item of out.Items ?? []) {
          if (stop.signal.aborted) return;
          let record: KeyRecord;
          try {
            record = parseKeyItem(item, table, true) as KeyRecord;
          } catch (error) {
            const pk = item["pk"]?.S;
            if (options.onMalformed === undefined || pk === undefined || !PK_HEX.test(pk) || !(error instanceof VaultError)) throw error;
            options.onMalformed(pk, error.message);
            continue;
          }
          if (record.status !== "active") continue;
          await onKey(record.publicKey, record.sealed);
          delivered++;
        }
        start = out.LastEvaluatedKey;
      } while (start !== undefined);
    };

    let firstError: { error: unknown } | undefined;
    await Promise.all(
      Array.from({ length: segments }, (_, segment) =>
        scanSegment(segment).catch((error: unknown) => {
          firstError ??= { error };
          stop.abort();
        }),
      ),
    );
    if (firstError !== undefined) throw firstError.error;
    return delivered;
  }

  // ---- signer state ----

  /**
   * A state document and its version (strongly consistent), or undefined
   * before the first write. `item` names the document: the vault's signer
   * state by default; other parts of the signer (the auth state) keep their
   * own item in the same table, each with its own version.
   */
  async readState(item: string = SIGNER_STATE_PK): Promise<StoredState | undefined> {
    const table = this.stateTable;
    const out = await this.#dynamo.call("GetItem", table, (abortSignal) =>
      this.#client.send(new GetItemCommand({ TableName: table, Key: { pk: { S: checkItem(item) } }, ConsistentRead: true }), { abortSignal }),
    );
    if (out.Item === undefined) return undefined;
    const json = out.Item["state"]?.S;
    const versionText = out.Item["version"]?.N;
    const version = versionText === undefined ? Number.NaN : Number(versionText);
    if (json === undefined || !Number.isSafeInteger(version) || version < 1) {
      throw new VaultError(`DynamoDB table "${table}": the ${item} item is malformed (state or version)`);
    }
    if (Buffer.byteLength(json, "utf8") > MAX_STATE_BYTES) throw new VaultError(`DynamoDB table "${table}": the ${item} document is over ${MAX_STATE_BYTES} bytes`);
    let state: unknown;
    try {
      state = JSON.parse(json);
    } catch {
      throw new VaultError(`DynamoDB table "${table}": the ${item} document is not valid JSON`);
    }
    return { state, version };
  }

  /**
   * Write the state document if the stored version is still
   * `expectedVersion` (undefined: no state stored yet), and return the new
   * version (expectedVersion + 1, or 1). Another writer having got there
   * first is a VaultConflictError telling the caller to re-read and retry.
   */
  async writeState(state: unknown, expectedVersion: number | undefined, item: string = SIGNER_STATE_PK): Promise<number> {
    checkItem(item);
    if (expectedVersion !== undefined && (!Number.isSafeInteger(expectedVersion) || expectedVersion < 1)) {
      throw new VaultError("expectedVersion must be a positive integer, or undefined for the first write");
    }
    let json: string | undefined;
    try {
      json = JSON.stringify(state);
    } catch (error) {
      throw new VaultError("signer state is not JSON-serialisable", { cause: error });
    }
    if (json === undefined) throw new VaultError("signer state is not JSON-serialisable");
    const bytes = Buffer.byteLength(json, "utf8");
    if (bytes > MAX_STATE_BYTES) {
      throw new VaultError(`signer state is ${bytes} bytes of JSON, over the ${MAX_STATE_BYTES}-byte limit (DynamoDB items are at most 400 KB)`);
    }
    const version = (expectedVersion ?? 0) + 1;
    const table = this.stateTable;
    const guard: Pick<PutItemCommandInput, "ConditionExpression" | "ExpressionAttributeNames" | "ExpressionAttributeValues"> =
      expectedVersion === undefined
        ? { ConditionExpression: "attribute_not_exists(#pk)", ExpressionAttributeNames: { "#pk": "pk" } }
        : {
            ConditionExpression: "#version = :expected",
            ExpressionAttributeNames: { "#version": "version" },
            ExpressionAttributeValues: { ":expected": { N: String(expectedVersion) } },
          };
    const written = await this.#dynamo.conditional("PutItem", table, (abortSignal) =>
      this.#client.send(
        new PutItemCommand({
          TableName: table,
          Item: { pk: { S: item }, state: { S: json }, version: { N: String(version) }, updatedAt: { S: this.#now().toISOString() } },
          ...guard,
        }),
        { abortSignal },
      ),
    );
    if (!written) {
      throw new VaultConflictError(
        expectedVersion === undefined
          ? `${item} already exists (another writer created it): re-read it and retry`
          : `${item} is no longer at version ${expectedVersion} (another writer changed it): re-read it and retry`,
      );
    }
    return version;
  }
}
