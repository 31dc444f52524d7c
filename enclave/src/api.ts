import type { IncomingMessage, ServerOptions, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { ATTESTATION_PATH, handleAttestationRequest } from "@strongroom/atls";
import type { NsmClient } from "@strongroom/nitro";
import { createRouter, type Route } from "./http/router.ts";
import type { SignerContext } from "./routes/context.ts";
import { handleHealthcheck, handlePublicKeys, handleUpcheck } from "./routes/health.ts";
import { handleDeleteKeystores, handleImportKeystores, handleListKeystores } from "./routes/keymanager.ts";
import {
  handleCreatePolicy,
  handleCreateToken,
  handleDeletePolicy,
  handleGetPolicy,
  handleListPolicies,
  handleListTokens,
  handleResumeSigning,
  handleRevokeToken,
  handleSigningState,
  handleUpdatePolicy,
} from "./routes/manage.ts";
import { handleMetrics } from "./routes/metrics.ts";
import { handleSign } from "./routes/sign.ts";
import { handleExportSlashingProtection } from "./routes/slashing-export.ts";
import { handleDeleteSealedKey, handleGenerateKeys, handleListSealedKeys, handleSetSealedKeyStatus } from "./routes/sealed-keys.ts";
import {
  handleOperatorCredentials,
  handleVaultInit,
  handleVaultRotate,
  handleVaultSeal,
  handleVaultStatus,
  handleVaultUnseal,
  handleVaultUnsealKms,
} from "./routes/vault.ts";

export interface HttpTimeouts {
  /** A client must have sent all request headers within this time. */
  readonly headersMs: number;
  /** A client must have sent the whole request (headers and body) within this time. */
  readonly requestMs: number;
}

export const DEFAULT_HTTP_TIMEOUTS: HttpTimeouts = { headersMs: 10_000, requestMs: 30_000 };

const MANAGE = "/api/v1/strongroom";
const NAME = "([^/]+)";
const VAULT = `${MANAGE}/vault`;
const KEYS = `${MANAGE}/keys`;

/**
 * The routes and the scope each needs: Web3Signer's eth2 API, the Key Manager
 * API, strongroom's management API and metrics. Only /upcheck and
 * /healthcheck are open (load balancers and liveness probes carry no token),
 * and, over attested TLS, the attestation route: a fresh document is the
 * proof a client asks for before it trusts the channel with a token.
 */
function routes(ctx: SignerContext, nsm: NsmClient | undefined): Route[] {
  const at = (path: string) => new RegExp(`^${path}$`);
  return [
    { name: "upcheck", method: "GET", path: at("/upcheck"), handler: (_req, res) => handleUpcheck(res) },
    { name: "healthcheck", method: "GET", path: at("/healthcheck"), handler: (_req, res) => handleHealthcheck(ctx, res) },
    { name: "public_keys", method: "GET", path: at("/api/v1/eth2/publicKeys"), scope: "public_keys", perKey: true, handler: (_req, res, r) => handlePublicKeys(ctx, res, r) },
    { name: "sign", method: "POST", path: at("/api/v1/eth2/sign/([^/]*)"), scope: "sign", perKey: true, admission: true, handler: (req, res, r) => handleSign(ctx, req, res, r) },
    { name: "keystores_list", method: "GET", path: at("/eth/v1/keystores"), scope: "keymanager_read", perKey: true, handler: (_req, res, r) => handleListKeystores(ctx, res, r) },
    { name: "keystores_import", method: "POST", path: at("/eth/v1/keystores"), scope: "keymanager_write", perKey: true, handler: (req, res, r) => handleImportKeystores(ctx, req, res, r) },
    { name: "keystores_delete", method: "DELETE", path: at("/eth/v1/keystores"), scope: "keymanager_write", perKey: true, handler: (req, res, r) => handleDeleteKeystores(ctx, req, res, r) },
    { name: "slashing_export", method: "GET", path: at(`${MANAGE}/slashing-protection`), scope: "slashing_export", perKey: true, handler: (req, res, r) => handleExportSlashingProtection(ctx, req, res, r) },
    { name: "tokens_list", method: "GET", path: at(`${MANAGE}/tokens`), scope: "manage", handler: (_req, res) => handleListTokens(ctx, res) },
    { name: "tokens_create", method: "POST", path: at(`${MANAGE}/tokens`), scope: "manage", handler: (req, res, r) => handleCreateToken(ctx, req, res, r) },
    { name: "tokens_revoke", method: "DELETE", path: at(`${MANAGE}/tokens/${NAME}`), scope: "manage", handler: (_req, res, r) => handleRevokeToken(ctx, res, r) },
    { name: "policies_list", method: "GET", path: at(`${MANAGE}/policies`), scope: "manage", handler: (_req, res) => handleListPolicies(ctx, res) },
    { name: "policies_create", method: "POST", path: at(`${MANAGE}/policies`), scope: "manage", handler: (req, res, r) => handleCreatePolicy(ctx, req, res, r) },
    { name: "policies_get", method: "GET", path: at(`${MANAGE}/policies/${NAME}`), scope: "manage", handler: (_req, res, r) => handleGetPolicy(ctx, res, r) },
    { name: "policies_update", method: "PUT", path: at(`${MANAGE}/policies/${NAME}`), scope: "manage", handler: (req, res, r) => handleUpdatePolicy(ctx, req, res, r) },
    { name: "policies_delete", method: "DELETE", path: at(`${MANAGE}/policies/${NAME}`), scope: "manage", handler: (_req, res, r) => handleDeletePolicy(ctx, res, r) },
    { name: "signing_state", method: "GET", path: at(`${MANAGE}/signing`), scope: "manage", handler: (_req, res) => handleSigningState(ctx, res) },
    { name: "signing_resume", method: "POST", path: at(`${MANAGE}/signing/resume`), scope: "manage", handler: (_req, res, r) => handleResumeSigning(ctx, res, r) },
    { name: "vault_status", method: "GET", path: at(VAULT), scope: "manage", handler: (_req, res) => handleVaultStatus(ctx, res) },
    { name: "vault_init", method: "POST", path: at(`${VAULT}/init`), scope: "manage", handler: (req, res, r) => handleVaultInit(ctx, req, res, r) },
    { name: "vault_rotate", method: "POST", path: at(`${VAULT}/rotate`), scope: "manage", handler: (req, res, r) => handleVaultRotate(ctx, req, res, r) },
    { name: "vault_seal", method: "POST", path: at(`${VAULT}/seal`), scope: "manage", handler: (_req, res, r) => handleVaultSeal(ctx, res, r) },
    { name: "vault_unseal_kms", method: "POST", path: at(`${VAULT}/unseal-kms`), scope: "manage", handler: (_req, res) => handleVaultUnsealKms(ctx, res) },
    // Open: an operator in an unseal ceremony holds no token; the credential is the proof, and wrong ones lock the operator out.
    { name: "vault_credentials", method: "GET", path: at(`${VAULT}/operators/${NAME}/credentials`), handler: (_req, res, r) => handleOperatorCredentials(ctx, res, r) },
    { name: "vault_unseal", method: "POST", path: at(`${VAULT}/unseal`), admission: true, handler: (req, res) => handleVaultUnseal(ctx, req, res) },
    { name: "sealed_keys_list", method: "GET", path: at(KEYS), scope: "keymanager_read", perKey: true, handler: (_req, res, r) => handleListSealedKeys(ctx, res, r) },
    { name: "sealed_keys_generate", method: "POST", path: at(`${KEYS}/generate`), scope: "keymanager_write", perKey: true, handler: (req, res, r) => handleGenerateKeys(ctx, req, res, r) },
    { name: "sealed_keys_activate", method: "POST", path: at(`${KEYS}/${NAME}/activate`), scope: "keymanager_write", perKey: true, handler: (_req, res, r) => handleSetSealedKeyStatus(ctx, res, r, "active") },
    { name: "sealed_keys_deactivate", method: "POST", path: at(`${KEYS}/${NAME}/deactivate`), scope: "keymanager_write", perKey: true, handler: (_req, res, r) => handleSetSealedKeyStatus(ctx, res, r, "inactive") },
    { name: "sealed_keys_delete", method: "DELETE", path: at(`${KEYS}/${NAME}`), scope: "keymanager_write", perKey: true, handler: (_req, res, r) => handleDeleteSealedKey(ctx, res, r) },
    { name: "metrics", method: "GET", path: at("/metrics"), scope: "metrics", handler: (_req, res) => handleMetrics(ctx.metrics.registry, res) },
    // Each answer costs an NSM call and a signature, so it waits for a place like a signing does.
    ...(nsm === undefined
      ? []
      : [{ name: "attestation", method: "POST", path: at(ATTESTATION_PATH), admission: true, handler: (req: IncomingMessage, res: ServerResponse) => handleAttestationRequest(nsm, req, res) }]),
  ];
}

/**
 * The API, for any server that speaks HTTP/1.1 (node:http, node:https, the
 * aTLS server): one request listener, the options that bound slow clients,
 * and the answer to garbage at the HTTP layer.
 */
export interface Api {
  readonly requestListener: (req: IncomingMessage, res: ServerResponse) => void;
  readonly serverOptions: ServerOptions;
  /** For the server's "clientError" event. */
  readonly onClientError: (error: NodeJS.ErrnoException, socket: Duplex) => void;
}

export interface ApiOptions {
  readonly timeouts: HttpTimeouts;
  /** Over attested TLS: the NSM that answers POST /api/v1/strongroom/attestation (404 without). */
  readonly attestation?: NsmClient;
}

export function createApi(ctx: SignerContext, options: ApiOptions): Api {
  const { timeouts } = options;
  return {
    requestListener: createRouter(routes(ctx, options.attestation), {
      log: ctx.log,
      access: ctx.access,
      admission: ctx.admission,
      onAnswered: (route, info, status) => ctx.metrics.countRequest(route, info.type ?? "", status),
    }),
    serverOptions: {
      keepAliveTimeout: 65_000,
      headersTimeout: timeouts.headersMs,
      requestTimeout: timeouts.requestMs,
      // Slow clients are cut off close to their deadline, not up to 30 s after it (Node's default check interval).
      connectionsCheckingInterval: Math.max(50, Math.min(1_000, timeouts.headersMs / 4)),
    },
    // A client that is too slow or sends garbage at the HTTP layer gets a status and a closed socket, never a crash.
    onClientError(error, socket) {
      if (!socket.writable) {
        socket.destroy();
        return;
      }
      const status =
        error.code === "ERR_HTTP_REQUEST_TIMEOUT" ? "408 Request Timeout" : error.code === "HPE_HEADER_OVERFLOW" ? "431 Request Header Fields Too Large" : "400 Bad Request";
      socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    },
  };
}
