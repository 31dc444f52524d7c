// dynalite 4 ships no type declarations; this covers what the simulator and the tests use.
declare module "dynalite" {
  import type { Server } from "node:http";

  interface DynaliteOptions {
    /** How long tables stay CREATING / DELETING / UPDATING (ms; default 500). */
    readonly createTableMs?: number;
    readonly deleteTableMs?: number;
    readonly updateTableMs?: number;
    readonly maxItemSizeKb?: number;
    /** LevelDB directory; in memory when absent. */
    readonly path?: string;
  }

  /** An HTTP server speaking DynamoDB's JSON protocol; call listen() on it. */
  export default function dynalite(options?: DynaliteOptions): Server;
}
