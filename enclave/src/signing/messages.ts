/** Messages between the signing pool and its worker threads. Public keys travel as hex (they are public). */
export type WorkerRequest =
  | { readonly op: "add"; readonly publicKey: string; readonly secretKey: Uint8Array }
  | { readonly op: "remove"; readonly publicKey: string }
  | { readonly op: "clear" }
  | { readonly op: "sign"; readonly id: number; readonly publicKey: string; readonly message: Uint8Array };

export type WorkerReply =
  | { readonly id: number; readonly signature: Uint8Array }
  | { readonly id: number; readonly error: string };
