// How the simulator's fronts start listening: a failure to listen (a port in
// use, say) rejects the start; errors after that (none are expected) must not
// crash the simulator.
import type { AddressInfo, Server } from "node:net";

/** Listens on `host` (default 127.0.0.1) and `port` (default 0: a free port); resolves with the address listened on. */
export async function listen(server: Server, where: { readonly host?: string; readonly port?: number }): Promise<{ host: string; port: number }> {
  const host = where.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(where.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  server.on("error", () => undefined);
  return { host, port: (server.address() as AddressInfo).port };
}
