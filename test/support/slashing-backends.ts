import type { AddressInfo } from "node:net";
import dynalite from "dynalite";
import { startPostgresServer } from "./postgres-server.ts";

/** A slashing-protection database server for whole-system tests, handing out fresh, empty databases by URL. */
export interface BackendFixture {
  readonly name: string;
  freshUrl(): Promise<string>;
  stop(): Promise<void>;
}

export async function pgliteFixture(): Promise<BackendFixture> {
  return { name: "PGlite", freshUrl: async () => "pglite:memory", stop: async () => undefined };
}

export async function postgresFixture(): Promise<BackendFixture> {
  const server = await startPostgresServer();
  let n = 0;
  return { name: "PostgreSQL", freshUrl: () => server.createDatabase(`strongroom_${n++}`), stop: () => server.dispose() };
}

/** dynalite: a real DynamoDB protocol implementation in memory; the SDK's default credential chain reads the env. */
export async function dynamoFixture(): Promise<BackendFixture> {
  process.env["AWS_ACCESS_KEY_ID"] ??= "strongroom-test";
  process.env["AWS_SECRET_ACCESS_KEY"] ??= "strongroom-test";
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const { port } = server.address() as AddressInfo;
  let n = 0;
  return {
    name: "DynamoDB",
    freshUrl: async () => `dynamodb://strongroom_${n++}?region=us-east-1&endpoint=${encodeURIComponent(`http://127.0.0.1:${port}`)}`,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
