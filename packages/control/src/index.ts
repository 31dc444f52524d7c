/**
 * The control channel between the parent and the enclave (DESIGN.md §5):
 * length-prefixed JSON frames, version 1 messages validated field by field,
 * and both ends of a connection. See README.md.
 */
export { encodeFrame, FrameDecoder, FrameError, MAX_FRAME_BYTES } from "./framing.ts";
export * from "./messages.ts";
export * from "./ports.ts";
export { ControlChannelError, ControlClient, serveControlStream, type EnclaveReply, type RefusalListener } from "./channel.ts";
