/**
 * Makes sure the table exists with strongroom's key schema: creates it
 * (on-demand billing) when missing and waits until it is usable; refuses a
 * table whose keys differ, since its items could not be strongroom's.
 */
import { CreateTableCommand, DescribeTableCommand, type TableDescription } from "@aws-sdk/client-dynamodb";
import { setTimeout as sleep } from "node:timers/promises";
import { SlashingDatabaseError, SlashingProtectionError } from "../protection.ts";
import { causeName, type Table } from "./table.ts";

/** Creating a table in AWS takes seconds to a minute; past this, opening fails. */
const TABLE_READY_TIMEOUT_MS = 120_000;
/** Polls start fast (a local endpoint is ready at once) and slow down to this. */
const MAX_POLL_MS = 1_000;
const EXPECTED = "pk (string, partition key) and sk (string, sort key)";

async function describe(table: Table): Promise<TableDescription | undefined> {
  try {
    const out = await table.call("DescribeTable", table.deadline(), (abortSignal) =>
      table.client.send(new DescribeTableCommand({ TableName: table.name }), { abortSignal }),
    );
    return out.Table;
  } catch (error) {
    if (causeName(error) === "ResourceNotFoundException") return undefined;
    throw error;
  }
}

async function create(table: Table): Promise<void> {
  const input = {
    TableName: table.name,
    BillingMode: "PAY_PER_REQUEST" as const,
    KeySchema: [
      { AttributeName: "pk", KeyType: "HASH" as const },
      { AttributeName: "sk", KeyType: "RANGE" as const },
    ],
    AttributeDefinitions: [
      { AttributeName: "pk", AttributeType: "S" as const },
      { AttributeName: "sk", AttributeType: "S" as const },
    ],
  };
  try {
    await table.call("CreateTable", table.deadline(), (abortSignal) => table.client.send(new CreateTableCommand(input), { abortSignal }));
  } catch (error) {
    // Another signer instance created it at the same time: fine, it is checked below.
    if (causeName(error) !== "ResourceInUseException") throw error;
  }
}

function checkKeySchema(name: string, description: TableDescription): void {
  const keys = description.KeySchema ?? [];
  const type = (attribute: string) => description.AttributeDefinitions?.find((d) => d.AttributeName === attribute)?.AttributeType;
  const matches =
    keys.length === 2 &&
    keys.some((k) => k.AttributeName === "pk" && k.KeyType === "HASH") &&
    keys.some((k) => k.AttributeName === "sk" && k.KeyType === "RANGE") &&
    type("pk") === "S" &&
    type("sk") === "S";
  if (!matches) {
    const found = keys.map((k) => `${k.AttributeName} (${type(k.AttributeName ?? "") ?? "?"}, ${k.KeyType})`).join(", ") || "none";
    throw new SlashingProtectionError(
      `DynamoDB table "${name}" has the key schema ${found}, but strongroom's slashing protection needs ${EXPECTED}; use another table name (strongroom creates it) or a table made for strongroom`,
    );
  }
}

export async function ensureTable(table: Table): Promise<void> {
  const deadline = Date.now() + TABLE_READY_TIMEOUT_MS;
  let description = await describe(table);
  if (description === undefined) {
    await create(table);
    description = await describe(table);
  }
  for (let poll = 0; description?.TableStatus !== "ACTIVE" && description?.TableStatus !== "UPDATING"; poll++) {
    if (description !== undefined && description.TableStatus !== "CREATING") {
      throw new SlashingDatabaseError(`DynamoDB table "${table.name}" is ${description.TableStatus}, not usable`);
    }
    if (Date.now() > deadline) throw new SlashingDatabaseError(`DynamoDB table "${table.name}" is not ACTIVE after ${TABLE_READY_TIMEOUT_MS / 1000} s`);
    await sleep(Math.min(25 * 2 ** poll, MAX_POLL_MS));
    description = await describe(table);
  }
  checkKeySchema(table.name, description);
}
