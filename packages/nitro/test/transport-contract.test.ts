// One contract, both transports: what the code above the transport may rely
// on. On a machine without a vsock peer (a VM cannot connect to its own CID)
// the vsock transport runs the listening and failure parts; the simulated one
// runs everything.
import { randomInt } from "node:crypto";
import { existsSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { createSimulatedTransport, createVsockTransport, type Transport, type TransportServer, type TransportStream, VsockError } from "../src/transport/index.ts";
import { localCid } from "../src/vsock/index.ts";
import { readToEnd, temporaryDirectory } from "./stream-support.ts";

interface Subject {
  listener: Transport;
  connector: Transport;
  /** Where `listener` listens. */
  listenerCid: number;
  cleanup: () => void;
}

const transports = [
  {
    kind: "simulated",
    available: true,
    canConnect: true,
    make(): Subject {
      const simDir = temporaryDirectory("strongroom-contract-");
      return {
        listener: createSimulatedTransport({ simDir: simDir.path, cid: 16 }),
        connector: createSimulatedTransport({ simDir: simDir.path, cid: 3 }),
        listenerCid: 16,
        cleanup: simDir.remove,
      };
    },
  },
  {
    kind: "vsock",
    available: existsSync("/dev/vsock"),
    canConnect: false,
    make(): Subject {
      const transport = createVsockTransport();
      return { listener: transport, connector: transport, listenerCid: localCid(), cleanup: () => {} };
    },
  },
] as const;

/** Codes a connect may fail with when nothing is there, across transports (see the Transport docs). */
const NOBODY_THERE = ["ENODEV", "ETIMEDOUT", "EHOSTUNREACH", "ECONNRESET", "ECONNREFUSED"];

describe.each(transports)("$kind transport", ({ kind, available, canConnect, make }) => {
  let subject: Subject;
  let port: number;
  const servers: TransportServer[] = [];
  const streams: TransportStream[] = [];

  beforeEach(() => {
    if (!available) return;
    subject = make();
    // A port of its own per test, well away from the system's (5000–9100).
    port = 20_000 + randomInt(1_000_000);
  });

  afterEach(async () => {
    for (const stream of streams.splice(0)) stream.destroy();
    await Promise.all(servers.splice(0).map((server) => server.close()));
    subject?.cleanup();
  });

  const listen = async (onConnection: (stream: TransportStream) => void = () => {}, at = port) => {
    const server = await subject.listener.listen(at, (stream) => {
      streams.push(stream);
      onConnection(stream);
    });
    servers.push(server);
    return server;
  };

  describe.runIf(available)("on this machine", () => {
    test("says what it is", () => {
      expect(subject.listener.kind).toBe(kind);
    });

    test("listens on the port asked for; close() is idempotent and frees the port", async () => {
      const server = await listen();
      expect(server.port).toBe(port);
      await server.close();
      await server.close();
      expect((await listen()).port).toBe(port);
    });

    test("a port that is listened on already is EADDRINUSE", async () => {
      await listen();
      const error = (await subject.listener.listen(port, () => {}).catch((e: unknown) => e)) as VsockError;
      expect(error).toBeInstanceOf(VsockError);
      expect(error.code).toBe("EADDRINUSE");
    });

    test("connecting to a CID nobody has rejects with a VsockError naming the address", async () => {
      const error = (await subject.connector.connect(4242, port).catch((e: unknown) => e)) as VsockError;
      expect(error).toBeInstanceOf(VsockError);
      expect(NOBODY_THERE).toContain(error.code);
      expect(error.message).toContain(`connect to CID 4242 port ${port}`);
    });

    test("CIDs and ports outside 32 bits, fractions and VMADDR_PORT_ANY are refused", async () => {
      await expect(subject.listener.listen(0xffff_ffff, () => {})).rejects.toMatchObject({ code: "ERR_OUT_OF_RANGE" });
      await expect(subject.listener.listen(-1, () => {})).rejects.toMatchObject({ code: "ERR_OUT_OF_RANGE" });
      await expect(subject.connector.connect(2 ** 32, port)).rejects.toMatchObject({ code: "ERR_OUT_OF_RANGE" });
      await expect(subject.connector.connect(subject.listenerCid, 1.5)).rejects.toMatchObject({ code: "ERR_OUT_OF_RANGE" });
    });

    describe.runIf(canConnect)("connected", () => {
      test("a port nobody listens on, at a CID that exists, is refused", async () => {
        await listen(() => {}, port + 1);
        const error = (await subject.connector.connect(subject.listenerCid, port).catch((e: unknown) => e)) as VsockError;
        expect(["ECONNREFUSED", "ECONNRESET"]).toContain(error.code);
      });

      test("bytes go both ways, each side knows the other, and half-close leaves the other direction open", async () => {
        let accepted: TransportStream | undefined;
        await listen((stream) => {
          accepted = stream;
          void readToEnd(stream).then((request) => stream.end(`re: ${request.toString()}`));
        });
        const stream = await subject.connector.connect(subject.listenerCid, port);
        streams.push(stream);
        expect([stream.remoteCid, stream.remotePort]).toEqual([subject.listenerCid, port]);
        stream.end("hello");
        expect((await readToEnd(stream)).toString()).toBe("re: hello");
        expect(accepted!.remotePort).toBeGreaterThan(1023);
      });
    });
  });
});
