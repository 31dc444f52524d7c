export type * from "./protection.ts";
