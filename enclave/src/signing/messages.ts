/** Messages between the signing pool and its worker threads. Public keys travel as hex (they are public). */
export interface SignJob {
  readonly id: number;
  readonly publicKey: string;
  readonly message: Uint8Array;
}

export type WorkerRequest =
  | { readonly op: "add"; readonly publicKey: string; readonly secretKey: Uint8Array }
  | { readonly op: "remove"; readonly publicKey: string }
  | { readonly op: "clear" }
  /** Every job handed out in one turn of the event loop, in one message. */
  | { readonly op: "sign"; readonly jobs: readonly SignJob[] };

export type SignResult = { readonly id: number; readonly signature: Uint8Array } | { readonly id: number; readonly error: string };

/** The results of one "sign" message, in one message. */
export type WorkerReply = readonly SignResult[];
