import type { Network } from "@strongroom/eth2";
import type { KeystoreDecryptPool } from "@strongroom/keystore";
import type { Logger } from "pino";
import type { KeyRegistry } from "../keys/registry.ts";
import type { SignerMetrics } from "../metrics.ts";
import type { AccessControl } from "../pipeline/access.ts";
import type { Admission } from "../pipeline/admission.ts";
import type { CanaryWatch } from "../pipeline/canary.ts";
import type { SlashingGuard } from "../slashing/guard.ts";
import type { SealedKeys } from "../vault/sealed-keys.ts";

export interface KeyLoadingStatus {
  readonly total: number;
  readonly loaded: number;
  readonly failed: number;
  readonly done: boolean;
}

export interface BodyLimits {
  /** Signing requests; a full phase0 block with every operation is well under this. */
  readonly signBytes: number;
  /** Key Manager imports carry many keystores at once. */
  readonly keymanagerBytes: number;
}

/** Everything a route handler may use; built once by the signer. */
export interface SignerContext {
  readonly network: Network;
  readonly keys: KeyRegistry;
  readonly keystorePool: KeystoreDecryptPool;
  readonly keyLoading: () => KeyLoadingStatus;
  /** Undefined only when the operator disabled slashing protection (Web3Signer's --slashing-protection-enabled=false). */
  readonly slashing: SlashingGuard | undefined;
  /** The vault and its sealed key table (sim and nitro mode with a vault database); undefined otherwise. */
  readonly sealedKeys?: SealedKeys;
  readonly canary: CanaryWatch;
  readonly admission: Admission;
  readonly access: AccessControl;
  readonly metrics: SignerMetrics;
  readonly limits: BodyLimits;
  readonly log: Logger;
}
