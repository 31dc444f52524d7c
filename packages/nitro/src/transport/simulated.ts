import { randomInt } from "node:crypto";
import { lstat, rm } from "node:fs/promises";
import { connect as connectUnix, createServer, type Server, type Socket } from "node:net";
import { checkCid, checkPort } from "../vsock/address.ts";
import { errorCode, VsockError, vsockError } from "../vsock/errors.ts";
import { encodePreamble, readPreamble } from "./preamble.ts";
import { SimulatedVsockDirectory } from "./sim-directory.ts";
import type { Transport, TransportServer, TransportStream } from "./types.ts";

export interface SimulatedTransportOptions {
  /** The simulator's state directory; sockets live in `<simDir>/vsock/`. */
  simDir: string;
  /** This side's CID: 16 for the simulated enclave, 3 for the parent. */
  cid: number;
}

/** Connectors' ports come from the range real vsock uses for ephemeral ports (above the reserved 0–1023). */
const FIRST_EPHEMERAL_PORT = 1024;
const EPHEMERAL_PORTS = 0x7fff_0000;

/**
 * vsock simulated over Unix sockets: CID:port is `<simDir>/vsock/<cid>_<port>.sock`.
 * Streams are net.Sockets (half-open) carrying `remoteCid`/`remotePort`; the
 * listener learns the connector's CID and port from a 12-byte preamble (see
 * preamble.ts). Connecting where nobody listens fails as vsock does: ENODEV
 * when no socket of that CID exists, ECONNREFUSED when the CID has listeners
 * but not on that port. A socket file left by a dead process is reclaimed by
 * the next listener; a live one makes listen fail with EADDRINUSE.
 */
export function createSimulatedTransport(options: SimulatedTransportOptions): Transport {
  checkCid(options.cid);
  const directory = new SimulatedVsockDirectory(options.simDir);
  let nextPort = FIRST_EPHEMERAL_PORT + randomInt(EPHEMERAL_PORTS);
  const ephemeralPort = () => {
    const port = nextPort;
    nextPort = FIRST_EPHEMERAL_PORT + ((port - FIRST_EPHEMERAL_PORT + 1) % EPHEMERAL_PORTS);
    return port;
  };

  return {
    kind: "simulated",

    async listen(port, onConnection): Promise<TransportServer> {
      checkPort(port);
      const operation = `listen on CID ${options.cid} port ${port} (simulated)`;
      let path: string;
      try {
        path = directory.socketPath(options.cid, port);
        await directory.prepare();
      } catch (cause) {
        throw vsockError(operation, cause);
      }
      const server = createServer({ allowHalfOpen: true }, (socket) =>
        readPreamble(socket, (from) => (from === null ? socket.destroy() : onConnection(asTransportStream(socket, from.cid, from.port)))),
      );
      try {
        await listenReclaimingStale(server, path);
      } catch (cause) {
        throw vsockError(operation, cause);
      }
      // Once listening, net.Server reports only accept failures (EMFILE), from
      // which libuv recovers by itself; the Transport interface has no channel for them.
      server.on("error", () => {});
      return {
        port,
        // Closing removes the socket file at once; it need not wait for the streams already handed over.
        close: async () => {
          if (server.listening) server.close();
        },
      };
    },

    async connect(cid, port): Promise<TransportStream> {
      checkCid(cid);
      checkPort(port);
      const operation = `connect to CID ${cid} port ${port} (simulated)`;
      let socket: Socket;
      try {
        socket = await connectPath(directory.socketPath(cid, port));
      } catch (cause) {
        const code = errorCode(cause);
        if (code === "ENOENT" || code === "ECONNREFUSED") throw vsockError(operation, cause, (await directory.knowsCid(cid)) ? "ECONNREFUSED" : "ENODEV");
        throw vsockError(operation, cause);
      }
      socket.write(encodePreamble({ cid: options.cid, port: ephemeralPort() }));
      return asTransportStream(socket, cid, port);
    },
  };
}

function asTransportStream(socket: Socket, remoteCid: number, remotePort: number): Socket & TransportStream {
  // Own properties shadow net.Socket's remotePort getter (which knows nothing of CIDs).
  return Object.defineProperties(socket, {
    remoteCid: { value: remoteCid, enumerable: true },
    remotePort: { value: remotePort, enumerable: true },
  }) as Socket & TransportStream;
}

function connectPath(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connectUnix({ path, allowHalfOpen: true });
    socket.once("error", reject).once("connect", () => {
      socket.off("error", reject);
      resolve(socket);
    });
  });
}

function listenOnce(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => {
      server.off("listening", onListening);
      reject(error);
    };
    const onListening = () => {
      server.off("error", onError);
      resolve();
    };
    server.once("error", onError).once("listening", onListening).listen(path);
  });
}

/** Listens at `path`; a socket file nobody accepts on any more (its process died) is removed first. */
async function listenReclaimingStale(server: Server, path: string): Promise<void> {
  try {
    await listenOnce(server, path);
  } catch (error) {
    if (errorCode(error) !== "EADDRINUSE" || (await isLive(path))) throw error;
    await listenOnce(server, path);
  }
}

/** Whether something accepts connections at `path`; removes the file when it is a dead socket. */
async function isLive(path: string): Promise<boolean> {
  const stats = await lstat(path).catch(() => null);
  if (stats === null) return false;
  if (!stats.isSocket()) throw new VsockError(`${path} exists and is not a socket; remove it`, "EADDRINUSE");
  try {
    (await connectPath(path)).destroy();
    return true;
  } catch (error) {
    if (errorCode(error) !== "ECONNREFUSED") throw error;
    await rm(path, { force: true });
    return false;
  }
}
