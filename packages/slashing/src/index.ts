export type * from "./protection.ts";
export { SlashingDatabaseError, SlashingProtectionError } from "./protection.ts";
export { interchangeToJson, MAX_INTERCHANGE_BYTES, parseInterchange } from "./interchange.ts";
export { DEFAULT_OPERATION_TIMEOUT_MS, openSlashingProtection, type OpenOptions } from "./open.ts";
export type { OutboundOptions } from "./outbound.ts";

/** PGlite served over the PostgreSQL wire protocol (for the simulator); loaded on first use, as PGlite is large. */
export async function servePglite(...args: Parameters<typeof import("./postgres/pglite-server.ts").servePglite>) {
  return (await import("./postgres/pglite-server.ts")).servePglite(...args);
}
export type { PgliteServer } from "./postgres/pglite-server.ts";
export { parseDynamoLocation, type DynamoLocation } from "./dynamodb/location.ts";
export { outboundRequestHandler } from "./dynamodb/outbound-handler.ts";
