// The vsock transport everything above is written against: real AF_VSOCK or simulated over Unix sockets.
export { VsockError } from "../vsock/errors.ts";
export { encodeProxyV2, MAX_PROXY_V2_BODY, ProxyProtocolError, readProxyV2, type ProxyEndpoint, type ProxyHeader, type ProxyProtocolFailure } from "./proxy-protocol.ts";
export { createSimulatedTransport, type SimulatedTransportOptions } from "./simulated.ts";
export type { Transport, TransportServer, TransportStream } from "./types.ts";
export { createVsockTransport } from "./vsock.ts";
