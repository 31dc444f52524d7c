// Real dynalite (DynamoDB's protocol in memory) for the vault's tests and the
// enclave's: one server, a client with explicit dummy credentials, and fresh
// pairs of tables on demand. The store class is the caller's: the enclave's
// tests see the package's built types, the vault's own its sources.
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import dynalite from "dynalite";
import type { VaultStoreOptions } from "../../src/index.ts";

export interface VaultTables<S> {
  readonly client: DynamoDBClient;
  /** Names of a pair of tables no store has used yet (not created). */
  nextNames(): { keysTable: string; stateTable: string };
  /** A store on a fresh pair of tables, created. */
  freshStore(options?: Pick<VaultStoreOptions, "now">): Promise<S>;
  close(): Promise<void>;
}

export async function startVaultTables<S extends { ensureTables(): Promise<void> }>(prefix: string, Store: new (options: VaultStoreOptions) => S): Promise<VaultTables<S>> {
  const server: Server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const { port } = server.address() as AddressInfo;
  const client = new DynamoDBClient({
    region: "us-east-1",
    endpoint: `http://127.0.0.1:${port}`,
    credentials: { accessKeyId: "strongroom-test", secretAccessKey: "strongroom-test" },
  });
  let tables = 0;
  const nextNames = () => {
    const n = tables++;
    return { keysTable: `${prefix}_keys_${n}`, stateTable: `${prefix}_state_${n}` };
  };
  return {
    client,
    nextNames,
    async freshStore(options = {}) {
      const store = new Store({ client, ...nextNames(), ...options });
      await store.ensureTables();
      return store;
    },
    async close() {
      client.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
