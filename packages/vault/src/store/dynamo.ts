/**
 * The DynamoDB plumbing shared by the vault's two tables: one request under
 * a deadline with every SDK failure turned into a VaultError (the SDK error
 * stays the `cause`), conditional writes that report a refused condition as
 * `false`, and table creation.
 */
import { CreateTableCommand, DescribeTableCommand, type DynamoDBClient, type TableDescription } from "@aws-sdk/client-dynamodb";
import { setTimeout as sleep } from "node:timers/promises";
import { VaultError } from "../errors.ts";

/** Creating a table in AWS takes seconds to a minute; past this, ensureTables fails. */
const TABLE_READY_TIMEOUT_MS = 120_000;
/** Polls start fast (a local endpoint is ready at once) and slow down to this. */
const MAX_POLL_MS = 1_000;

export class Dynamo {
  readonly client: DynamoDBClient;
  readonly timeoutMs: number;

  constructor(client: DynamoDBClient, timeoutMs: number) {
    this.client = client;
    this.timeoutMs = timeoutMs;
  }

  /** One request; `signal`, when given, also cancels it (a parallel scan aborting its other segments). */
  async call<T>(what: string, table: string, send: (abortSignal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const abortSignal = signal === undefined ? timeout : AbortSignal.any([timeout, signal]);
    try {
      return await send(abortSignal);
    } catch (error) {
      if (error instanceof VaultError) throw error;
      if (timeout.aborted) throw new VaultError(`${what} on DynamoDB table "${table}": not done within ${this.timeoutMs} ms`, { cause: error });
      if (signal?.aborted) throw new VaultError(`${what} on DynamoDB table "${table}": cancelled`, { cause: error });
      const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      throw new VaultError(`${what} on DynamoDB table "${table}" failed: ${detail}`, { cause: error });
    }
  }

  /** A conditional write: `false` when DynamoDB refused the condition, a VaultError on any other failure. */
  async conditional(what: string, table: string, send: (abortSignal: AbortSignal) => Promise<unknown>): Promise<boolean> {
    try {
      await this.call(what, table, send);
      return true;
    } catch (error) {
      if (error instanceof VaultError && error.cause instanceof Error && error.cause.name === "ConditionalCheckFailedException") return false;
      throw error;
    }
  }

  async #describe(table: string): Promise<TableDescription | undefined> {
    try {
      const out = await this.call("DescribeTable", table, (abortSignal) => this.client.send(new DescribeTableCommand({ TableName: table }), { abortSignal }));
      return out.Table;
    } catch (error) {
      if (error instanceof VaultError && error.cause instanceof Error && error.cause.name === "ResourceNotFoundException") return undefined;
      throw error;
    }
  }

  /**
   * Make sure `table` exists with a single string partition key `pk`:
   * create it (on-demand billing) when missing, wait until ACTIVE, refuse a
   * table with another key schema (its items could not be ours).
   */
  async ensureTable(table: string): Promise<void> {
    const deadline = Date.now() + TABLE_READY_TIMEOUT_MS;
    let description = await this.#describe(table);
    if (description === undefined) {
      try {
        await this.call("CreateTable", table, (abortSignal) =>
          this.client.send(
            new CreateTableCommand({
              TableName: table,
              BillingMode: "PAY_PER_REQUEST",
              KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
              AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
            }),
            { abortSignal },
          ),
        );
      } catch (error) {
        // Another instance created it at the same moment: fine, checked below.
        if (!(error instanceof VaultError && error.cause instanceof Error && error.cause.name === "ResourceInUseException")) throw error;
      }
      description = await this.#describe(table);
    }
    for (let poll = 0; description?.TableStatus !== "ACTIVE"; poll++) {
      if (description !== undefined && description.TableStatus !== "CREATING" && description.TableStatus !== "UPDATING") {
        throw new VaultError(`DynamoDB table "${table}" is ${description.TableStatus}, not usable`);
      }
      if (Date.now() > deadline) throw new VaultError(`DynamoDB table "${table}" is not ACTIVE after ${TABLE_READY_TIMEOUT_MS / 1000} s`);
      await sleep(Math.min(25 * 2 ** poll, MAX_POLL_MS));
      description = await this.#describe(table);
    }
    const keys = description.KeySchema ?? [];
    const pkType = description.AttributeDefinitions?.find((d) => d.AttributeName === "pk")?.AttributeType;
    if (keys.length !== 1 || keys[0]?.AttributeName !== "pk" || keys[0].KeyType !== "HASH" || pkType !== "S") {
      const found = keys.map((k) => `${k.AttributeName} (${k.KeyType})`).join(", ") || "none";
      throw new VaultError(`DynamoDB table "${table}" has the key schema ${found}; the vault needs a single string partition key "pk" (use another table name)`);
    }
  }
}
