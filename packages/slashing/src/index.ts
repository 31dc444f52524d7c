export type * from "./protection.ts";
export { SlashingDatabaseError, SlashingProtectionError } from "./protection.ts";
export { interchangeToJson, MAX_INTERCHANGE_BYTES, parseInterchange } from "./interchange.ts";
export { DEFAULT_OPERATION_TIMEOUT_MS, openSlashingProtection, type OpenOptions } from "./open.ts";
