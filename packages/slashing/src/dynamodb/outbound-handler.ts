/**
 * The AWS SDK's request handler for an enclave: HTTPS whose connections are
 * opened through OutboundOptions.connect, with TLS run here against the
 * endpoint's real name (and the given roots, in the simulator).
 */
import { Agent, type RequestOptions } from "node:https";
import type { Duplex } from "node:stream";
import { connect as connectTls } from "node:tls";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import type { OutboundOptions } from "../outbound.ts";

export function outboundRequestHandler(outbound: OutboundOptions, timeoutMs: number): NodeHttpHandler {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  // Node's Agent accepts a connection handed over later through the callback.
  agent.createConnection = (options: RequestOptions & { servername?: string }, done?: (error: Error | null, socket: Duplex) => void) => {
    const host = options.servername ?? options.host ?? "";
    const port = Number(options.port ?? 443);
    outbound.connect(host, port).then(
      (stream) => {
        // Half-open is no use to HTTPS: once the far side stops sending (the egress proxy went away), the
        // connection is closed so that the agent never reuses it.
        stream.once("end", () => stream.destroy());
        const tls = connectTls({ socket: stream, servername: host, rejectUnauthorized: true, ...(outbound.ca !== undefined && { ca: [...outbound.ca] }) });
        done?.(null, tls);
      },
      // The callback's type wants a stream even on failure; Node ignores it then.
      (error: unknown) => done?.(error as Error, undefined as unknown as Duplex),
    );
    return undefined;
  };
  return new NodeHttpHandler({ httpsAgent: agent, connectionTimeout: timeoutMs, requestTimeout: timeoutMs, throwOnRequestTimeout: true });
}
