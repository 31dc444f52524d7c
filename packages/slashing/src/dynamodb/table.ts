/**
 * The one place that talks to DynamoDB: typed calls on the table, every one
 * raced against an AbortSignal (so nothing outlives its deadline, even a
 * credential lookup the SDK cannot abort), and every failure other than a
 * refused condition turned into SlashingDatabaseError.
 */
import {
  BatchGetItemCommand,
  BatchWriteItemCommand,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  type QueryCommandInput,
  ScanCommand,
  type ScanCommandInput,
  UpdateItemCommand,
  type WriteRequest,
} from "@aws-sdk/client-dynamodb";
import { setTimeout as sleep } from "node:timers/promises";
import { SlashingDatabaseError } from "../protection.ts";
import { type Item, type Key, keyItem, keyOf } from "./layout.ts";

/** A write's condition and the values its expressions use. */
export interface Conditional {
  readonly condition?: string;
  readonly values?: Item;
}
export interface Update extends Conditional {
  readonly expression: string;
}

/** BatchWriteItem takes at most 25 requests, BatchGetItem 100 keys. */
const BATCH_WRITE_MAX = 25;
const BATCH_GET_MAX = 100;
/** Unprocessed batch entries (throttling) are retried this often, with growing pauses, before giving up. */
const UNPROCESSED_RETRIES = 8;

/** The name of the SDK error behind a SlashingDatabaseError from this module. */
export const causeName = (error: unknown) => (error instanceof Error && error.cause instanceof Error ? error.cause.name : undefined);

const withValues = (values: Item | undefined) => (values && Object.keys(values).length > 0 ? { ExpressionAttributeValues: values } : {});

function raceAbort<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    work.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

export class Table {
  readonly client: DynamoDBClient;
  readonly name: string;
  /** Bound of one operation (checks) or of one request (bulk import, export, prune). */
  readonly timeoutMs: number;

  constructor(client: DynamoDBClient, name: string, timeoutMs: number) {
    this.client = client;
    this.name = name;
    this.timeoutMs = timeoutMs;
  }

  /** A fresh deadline: for a whole check, or for each request of a bulk operation. */
  deadline(): AbortSignal {
    return AbortSignal.timeout(this.timeoutMs);
  }

  /** Runs one SDK call under `signal`; any failure becomes a SlashingDatabaseError. */
  async call<T>(what: string, signal: AbortSignal, send: (abortSignal: AbortSignal) => Promise<T>): Promise<T> {
    try {
      return await raceAbort(send(signal), signal);
    } catch (error) {
      throw this.failure(what, signal, error);
    }
  }

  /** Runs one conditional write: `false` when DynamoDB refused its condition. */
  private async conditional(what: string, signal: AbortSignal, send: (abortSignal: AbortSignal) => Promise<unknown>): Promise<boolean> {
    try {
      await raceAbort(send(signal), signal);
      return true;
    } catch (error) {
      if (error instanceof Error && error.name === "ConditionalCheckFailedException") return false;
      throw this.failure(what, signal, error);
    }
  }

  /** The SDK's error stays the `cause`, so that a caller may still tell e.g. a missing table apart. */
  private failure(what: string, signal: AbortSignal, error: unknown): SlashingDatabaseError {
    if (error instanceof SlashingDatabaseError) return error;
    if (signal.aborted) return new SlashingDatabaseError(`${what} on DynamoDB table "${this.name}": not done within ${this.timeoutMs} ms`, { cause: error });
    const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    return new SlashingDatabaseError(`${what} on DynamoDB table "${this.name}" failed: ${detail}`, { cause: error });
  }

  async get(key: Key, signal = this.deadline()): Promise<Item | undefined> {
    const out = await this.call("GetItem", signal, (abortSignal) =>
      this.client.send(new GetItemCommand({ TableName: this.name, Key: keyItem(key), ConsistentRead: true }), { abortSignal }),
    );
    return out.Item;
  }

  /** Strongly consistent reads of several items in one round trip, returned in the order of `keys`. */
  async batchGet(keys: readonly Key[], signal = this.deadline()): Promise<(Item | undefined)[]> {
    const found = new Map<string, Item>();
    const id = (key: Key) => `${key.pk}\n${key.sk}`;
    for (let start = 0; start < keys.length; start += BATCH_GET_MAX) {
      let pending = keys.slice(start, start + BATCH_GET_MAX).map(keyItem);
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt > UNPROCESSED_RETRIES) throw new SlashingDatabaseError(`BatchGetItem on DynamoDB table "${this.name}": keys left unprocessed (throttled)`);
        if (attempt > 0) await this.pause(attempt, signal);
        const request = pending;
        const out = await this.call("BatchGetItem", signal, (abortSignal) =>
          this.client.send(new BatchGetItemCommand({ RequestItems: { [this.name]: { Keys: request, ConsistentRead: true } } }), { abortSignal }),
        );
        for (const item of out.Responses?.[this.name] ?? []) found.set(id(keyOf(item)), item);
        pending = out.UnprocessedKeys?.[this.name]?.Keys ?? [];
      }
    }
    return keys.map((key) => found.get(id(key)));
  }

  put(item: Item, guard: Conditional, signal = this.deadline()): Promise<boolean> {
    return this.conditional("PutItem", signal, (abortSignal) =>
      this.client.send(
        new PutItemCommand({ TableName: this.name, Item: item, ConditionExpression: guard.condition, ...withValues(guard.values) }),
        { abortSignal },
      ),
    );
  }

  update(key: Key, update: Update, signal = this.deadline()): Promise<boolean> {
    return this.conditional("UpdateItem", signal, (abortSignal) =>
      this.client.send(
        new UpdateItemCommand({
          TableName: this.name,
          Key: keyItem(key),
          UpdateExpression: update.expression,
          ConditionExpression: update.condition,
          ...withValues(update.values),
        }),
        { abortSignal },
      ),
    );
  }

  /** An unconditional update that returns the item as it was before (undefined if it did not exist). */
  async updateReturningOld(key: Key, update: Update, signal = this.deadline()): Promise<Item | undefined> {
    const out = await this.call("UpdateItem", signal, (abortSignal) =>
      this.client.send(
        new UpdateItemCommand({ TableName: this.name, Key: keyItem(key), UpdateExpression: update.expression, ...withValues(update.values), ReturnValues: "ALL_OLD" }),
        { abortSignal },
      ),
    );
    return out.Attributes;
  }

  delete(key: Key, guard: Conditional, signal = this.deadline()): Promise<boolean> {
    return this.conditional("DeleteItem", signal, (abortSignal) =>
      this.client.send(
        new DeleteItemCommand({ TableName: this.name, Key: keyItem(key), ConditionExpression: guard.condition, ...withValues(guard.values) }),
        { abortSignal },
      ),
    );
  }

  /** Every page of a strongly consistent query; `signal` bounds the whole query, or each page when omitted. */
  async query(input: Omit<QueryCommandInput, "TableName" | "ConsistentRead" | "ExclusiveStartKey">, signal?: AbortSignal): Promise<Item[]> {
    const items: Item[] = [];
    let start: Item | undefined;
    do {
      const out = await this.call("Query", signal ?? this.deadline(), (abortSignal) =>
        this.client.send(new QueryCommand({ ...input, TableName: this.name, ConsistentRead: true, ExclusiveStartKey: start }), { abortSignal }),
      );
      for (const item of out.Items ?? []) items.push(item);
      start = out.LastEvaluatedKey;
    } while (start !== undefined);
    return items;
  }

  /** Every page of a strongly consistent scan, each page under its own deadline. */
  async scan(input: Omit<ScanCommandInput, "TableName" | "ConsistentRead" | "ExclusiveStartKey"> = {}): Promise<Item[]> {
    const items: Item[] = [];
    let start: Item | undefined;
    do {
      const out = await this.call("Scan", this.deadline(), (abortSignal) =>
        this.client.send(new ScanCommand({ ...input, TableName: this.name, ConsistentRead: true, ExclusiveStartKey: start }), { abortSignal }),
      );
      for (const item of out.Items ?? []) items.push(item);
      start = out.LastEvaluatedKey;
    } while (start !== undefined);
    return items;
  }

  /** Unconditional deletes in batches of 25, each batch under its own deadline, retrying what DynamoDB leaves unprocessed. */
  async batchDelete(keys: readonly Key[]): Promise<void> {
    for (let start = 0; start < keys.length; start += BATCH_WRITE_MAX) {
      let pending: WriteRequest[] = keys.slice(start, start + BATCH_WRITE_MAX).map((key) => ({ DeleteRequest: { Key: keyItem(key) } }));
      const signal = this.deadline();
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt > UNPROCESSED_RETRIES) throw new SlashingDatabaseError(`BatchWriteItem on DynamoDB table "${this.name}": deletes left unprocessed (throttled)`);
        if (attempt > 0) await this.pause(attempt, signal);
        const request = pending;
        const out = await this.call("BatchWriteItem", signal, (abortSignal) =>
          this.client.send(new BatchWriteItemCommand({ RequestItems: { [this.name]: request } }), { abortSignal }),
        );
        pending = out.UnprocessedItems?.[this.name] ?? [];
      }
    }
  }

  /** A short randomised pause before retry `attempt` (1, 2, …), cut short by the deadline. */
  async pause(attempt: number, signal: AbortSignal): Promise<void> {
    const ms = Math.random() * Math.min(2 ** attempt, 100);
    await this.call("retry pause", signal, (abortSignal) => sleep(ms, undefined, { signal: abortSignal }));
  }
}
