// The vsock transport everything above is written against: real AF_VSOCK or simulated over Unix sockets.
export { VsockError } from "../vsock/errors.ts";
export { createSimulatedTransport, type SimulatedTransportOptions } from "./simulated.ts";
export type { Transport, TransportServer, TransportStream } from "./types.ts";
export { createVsockTransport } from "./vsock.ts";
