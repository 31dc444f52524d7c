// The vsock port map (DESIGN.md §5): the one definition the enclave and the parent both use.

/** The parent instance, as seen from inside an enclave. */
export const PARENT_CID = 3;
/** The enclave's CID in the simulator (and usually on Nitro). */
export const SIMULATED_ENCLAVE_CID = 16;
/** The enclave's listeners: the aTLS API, the control channel, Prometheus metrics. */
export const ENCLAVE_PORTS = { api: 5000, control: 5001, metrics: 5002 } as const;
/** The parent's egress proxies, one port per allow-listed destination. */
export const EGRESS_PORTS = { first: 8000, last: 8099 } as const;
/** The parent's sink for the enclave's log stream. */
export const LOG_SINK_PORT = 9100;
