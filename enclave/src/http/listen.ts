import type { AddressInfo, Server } from "node:net";

/** Listens and returns the server's URL (`scheme://host:port`, the port it got when asked for 0). */
export async function listen(server: Server, host: string, port: number, scheme: "http" | "https"): Promise<string> {
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (error) {
    throw new Error(`cannot listen on ${host}:${port}: ${(error as Error).message}`);
  }
  const address = server.address() as AddressInfo;
  return `${scheme}://${address.family === "IPv6" ? `[${address.address}]` : address.address}:${address.port}`;
}
