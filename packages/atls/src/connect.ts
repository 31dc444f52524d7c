// The aTLS client connection: TLS 1.3 to a self-signed peer, verified by its
// attestation on 'secureConnect', before anything of ours is written to it.
// TLS itself proves that the peer holds the certificate's key
// (CertificateVerify); aTLS proves that the key is an enclave's.
import { isIP } from "node:net";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { AtlsTimeoutError, AtlsVerificationError } from "./errors.ts";
import { verifyFreshAttestation } from "./fresh-client.ts";
import { verifyPeer, verifySettings, type AtlsVerifyOptions, type VerifiedPeer, type VerifySettings } from "./verify.ts";

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

export interface AtlsTarget {
  readonly host: string;
  readonly port: number;
  /** SNI; default the host when it is a name (never an IP address, as RFC 6066 says). */
  readonly servername?: string;
  /** Also ask for a fresh document bound to this session (POST ATTESTATION_PATH) before resolving. */
  readonly fresh?: boolean;
  /** For the connection, the handshake and the verification together; default 10 s. */
  readonly timeoutMs?: number;
}

export type AtlsConnectOptions = AtlsTarget & AtlsVerifyOptions;

export interface AtlsConnection {
  /** Verified, with no listener of ours left on it: attach yours (at least 'error') at once. Ready for HTTP/1.1. */
  readonly socket: TLSSocket;
  readonly peer: VerifiedPeer;
}

/**
 * Connects with TLS 1.3 (the certificate is self-signed, so the usual chain
 * check is off) and verifies the peer's certificate on 'secureConnect',
 * before the promise resolves: no application byte ever goes to an
 * unverified peer. With `fresh`, also performs the fresh attestation exchange
 * on the socket. Rejects with AtlsVerificationError when the peer is refused
 * (the socket is destroyed), with AtlsTimeoutError past `timeoutMs`, and with
 * the socket's error when the connection itself fails.
 */
export async function connectAtls(options: AtlsConnectOptions): Promise<AtlsConnection> {
  return connectVerified(options, verifySettings(options));
}

/** connectAtls with the verification options checked beforehand (once per dispatcher, not per connection). */
export function connectVerified(target: AtlsTarget, settings: VerifySettings): Promise<AtlsConnection> {
  const { host, port, fresh = false, timeoutMs = DEFAULT_CONNECT_TIMEOUT_MS } = target;
  if (typeof host !== "string" || host.length === 0) return Promise.reject(new TypeError("host must name the aTLS server"));
  if (!Number.isInteger(port) || port < 1 || port > 65535) return Promise.reject(new TypeError(`port must be an integer from 1 to 65535, not ${port}`));
  if (!(timeoutMs > 0)) return Promise.reject(new TypeError(`timeoutMs must be a positive number of milliseconds, not ${timeoutMs}`));
  const servername = target.servername ?? (isIP(host) === 0 ? host : undefined);
  const authority = `${isIP(host) === 6 ? `[${host}]` : host}:${port}`;

  return new Promise((resolve, reject) => {
    const socket = tlsConnect({
      host,
      port,
      ...(servername !== undefined && { servername }),
      minVersion: "TLSv1.3",
      maxVersion: "TLSv1.3",
      rejectUnauthorized: false,
      ALPNProtocols: ["http/1.1"],
    });
    let settled = false;
    const onClose = () => fail(new Error(`the connection to ${authority} closed before aTLS verification finished`));
    const finish = () => {
      settled = true;
      clearTimeout(timer);
      socket.off("error", fail).off("close", onClose);
    };
    function fail(error: unknown): void {
      if (settled) return;
      finish();
      socket.destroy();
      reject(error);
    }
    const timer = setTimeout(() => fail(new AtlsTimeoutError(`no verified aTLS connection to ${authority} within ${timeoutMs} ms`)), timeoutMs);
    socket.on("error", fail).on("close", onClose);
    socket.once("secureConnect", () => {
      let peer: VerifiedPeer;
      try {
        const { raw } = socket.getPeerCertificate();
        if (raw === undefined) throw new AtlsVerificationError("no-certificate", `${authority} presented no certificate; it is not an aTLS server`);
        peer = verifyPeer(new Uint8Array(raw), settings);
      } catch (error) {
        return fail(error);
      }
      const verified = fresh ? verifyFreshAttestation(socket, authority, settings, peer) : Promise.resolve();
      verified.then(() => {
        if (settled) return;
        finish();
        resolve({ socket, peer });
      }, fail);
    });
  });
}
