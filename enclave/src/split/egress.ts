// The enclave has no network: each outbound connection is a vsock stream to
// the parent's egress proxy for that destination (DESIGN.md §5), and TLS runs
// over it here. The routes come from the parent's bootstrap; a wrong route can
// only make a connection fail its certificate check, never succeed elsewhere.
import type { Duplex } from "node:stream";
import { PARENT_CID, type EgressEntry } from "@strongroom/control";
import type { Transport } from "@strongroom/nitro";

export class EgressRoutes {
  readonly #transport: Transport;
  readonly #routes = new Map<string, number>();

  constructor(transport: Transport, routes: readonly EgressEntry[]) {
    this.#transport = transport;
    for (const route of routes) this.#routes.set(`${route.host}:${route.port}`, route.vsockPort);
  }

  async connect(host: string, port: number): Promise<Duplex> {
    const destination = `${host.toLowerCase().replace(/^\[(.*)\]$/, "$1")}:${port}`;
    const vsockPort = this.#routes.get(destination) ?? this.#routes.get(`[${host.toLowerCase()}]:${port}`);
    if (vsockPort === undefined) {
      throw new Error(`no egress route to ${destination}: start the parent with --egress=${destination}`);
    }
    try {
      return await this.#transport.connect(PARENT_CID, vsockPort);
    } catch (error) {
      throw new Error(`cannot reach ${destination} through the parent's egress proxy (vsock port ${vsockPort}): ${(error as Error).message}`);
    }
  }
}
