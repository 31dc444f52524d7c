// Real AF_VSOCK as Node.js streams (Linux; needs the native addon).
export type { VsockAddress } from "../native.ts";
export { localCid, VMADDR_CID_ANY, VMADDR_PORT_ANY } from "./address.ts";
export { connectVsock, type ConnectVsockOptions } from "./connect.ts";
export { VsockError } from "./errors.ts";
export { VsockServer } from "./server.ts";
export { VsockSocket, type VsockEndpoints } from "./socket.ts";
