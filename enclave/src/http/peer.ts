// Who connected. Over TCP the socket knows; a connection that came through the
// parent's ingress over vsock does not, and carries instead the address the
// parent asserted in a PROXY protocol header — as trustworthy as the parent
// (DESIGN.md §1), which the docs say for CIDR rules in nitro mode.

const asserted = new WeakMap<object, string>();

export function setAssertedPeer(socket: object, address: string): void {
  asserted.set(socket, address);
}

/** The peer's address, or "" when nobody knows it (which no CIDR rule matches). */
export function peerAddress(socket: { readonly remoteAddress?: string | undefined }): string {
  return socket.remoteAddress ?? asserted.get(socket) ?? "";
}
