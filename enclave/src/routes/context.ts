import type { Network } from "@strongroom/eth2";
import type { KeystoreDecryptPool } from "@strongroom/keystore";
import type { Logger } from "pino";
import type { KeyRegistry } from "../keys/registry.ts";

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
  /** Web3Signer's --slashing-protection-enabled; until a database is configured, true means blocks and attestations are refused. */
  readonly slashingProtectionEnabled: boolean;
  readonly limits: BodyLimits;
  readonly log: Logger;
}
