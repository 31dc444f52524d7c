import { checkPort } from "../vsock/address.ts";
import { connectVsock } from "../vsock/connect.ts";
import { VsockServer } from "../vsock/server.ts";
import type { Transport, TransportServer } from "./types.ts";

/** The real thing: AF_VSOCK through the native addon. Listeners bind VMADDR_CID_ANY, i.e. this machine's CID. */
export function createVsockTransport(): Transport {
  return {
    kind: "vsock",

    async listen(port, onConnection): Promise<TransportServer> {
      checkPort(port);
      const server = await new VsockServer(onConnection).listen(port);
      return {
        port,
        close: () => new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve())),
      };
    },

    connect: (cid, port) => connectVsock(cid, port),
  };
}
