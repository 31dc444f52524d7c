/** The untrusted parent: proxies, control channel, credential forwarding, log shipping, enclave lifecycle. See README.md. */
export * from "./aws/index.ts";
export { AuditRecorder, readAuditRecording, type AuditStream } from "./audit.ts";
export { ControlLink } from "./control-link.ts";
export { parseEgressAllowlist, type EgressRoute } from "./egress.ts";
export { NitroEnclaveLifecycle, NitroCliError } from "./lifecycle/nitro.ts";
export type { RunEnclaveOptions } from "./lifecycle/nitro-cli.ts";
export { SimEnclaveLifecycle } from "./lifecycle/sim.ts";
export type { EnclaveLifecycle } from "./lifecycle/types.ts";
export { startParent, type ParentOptions, type RunningParent } from "./parent.ts";
