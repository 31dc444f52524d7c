// Typed NSM operations over any NsmDevice (/dev/nsm or the simulator). Each call encodes one
// request, checks its size as the driver does, decodes the response strictly and checks that it
// answers the request; an {"Error": code} response becomes an NsmError carrying that code.

import type { NsmDevice } from "./device.ts";
import {
  decodeResponse,
  encodeRequest,
  type NsmErrorCode,
  NsmProtocolError,
  type NsmRequest,
  type NsmResponse,
  type NsmResponseType,
  NSM_REQUEST_MAX_SIZE,
} from "./protocol.ts";

const MEANING: Record<NsmErrorCode, string> = {
  Success: "the NSM answered with an Error response that says Success",
  InvalidArgument: "input argument(s) invalid",
  InvalidIndex: "PCR index out of bounds",
  InvalidResponse: "the response does not correspond to the request",
  ReadOnlyIndex: "the PCR is locked (read-only) and cannot be modified",
  InvalidOperation: "the request cannot be fulfilled (unknown or malformed operation)",
  BufferTooSmall: "the output buffer is too small",
  InputTooLarge: "the input is too large",
  InternalError: "the NSM failed internally",
};

/** An operation the NSM refused (or a response that made no sense); `code` is the NSM's string. */
export class NsmError extends Error {
  override readonly name = "NsmError";
  /** The NSM's error string. */
  readonly code: NsmErrorCode;
  /** The request that failed (DescribePCR, Attestation, …). */
  readonly operation: string;
  constructor(code: NsmErrorCode, operation: string, detail?: string, options?: { cause?: unknown }) {
    super(`NSM ${operation} failed: ${code} (${detail ?? MEANING[code]})`, options);
    this.code = code;
    this.operation = operation;
  }
}

/** What DescribeNSM reports: the module's version, id, PCR count and locks, and digest. */
export type NsmDescription = Omit<Extract<NsmResponse, { readonly type: "DescribeNSM" }>, "type">;

export interface PcrDescription {
  readonly locked: boolean;
  readonly value: Uint8Array;
}

export interface AttestationRequest {
  readonly userData?: Uint8Array;
  readonly nonce?: Uint8Array;
  readonly publicKey?: Uint8Array;
}

type ResponseOf<T extends NsmResponseType> = Extract<NsmResponse, { type: T }>;

export class NsmClient {
  readonly device: NsmDevice;
  constructor(device: NsmDevice) {
    this.device = device;
  }

  private async call<T extends NsmResponseType>(request: NsmRequest, expected: T): Promise<ResponseOf<T>> {
    const operation = request.type;
    const message = encodeRequest(request);
    // nsm-driver answers an oversized request with InputTooLarge without sending it; so do we.
    if (message.length > NSM_REQUEST_MAX_SIZE) throw new NsmError("InputTooLarge", operation, `request of ${message.length} bytes exceeds ${NSM_REQUEST_MAX_SIZE}`);
    let raw: Uint8Array | undefined;
    let response: NsmResponse;
    try {
      raw = await this.device.request(message);
      response = decodeResponse(raw);
    } catch (error) {
      if (error instanceof NsmProtocolError) throw new NsmError("InvalidResponse", operation, error.message, { cause: error });
      throw error;
    } finally {
      // Requests may carry PCR data or user data, responses random bytes; decoded values are copies.
      message.fill(0);
      raw?.fill(0);
    }
    if (response.type === "Error") throw new NsmError(response.code, operation);
    if (response.type !== expected) throw new NsmError("InvalidResponse", operation, `expected a ${expected} response, got ${response.type}`);
    return response as ResponseOf<T>;
  }

  async describeNsm(): Promise<NsmDescription> {
    const { type: _, ...description } = await this.call({ type: "DescribeNSM" }, "DescribeNSM");
    return description;
  }

  async describePcr(index: number): Promise<PcrDescription> {
    const r = await this.call({ type: "DescribePCR", index }, "DescribePCR");
    return { locked: r.lock, value: r.data };
  }

  /** Extends PCR `index` with `data`; resolves with the PCR's new value. */
  async extendPcr(index: number, data: Uint8Array): Promise<Uint8Array> {
    const r = await this.call({ type: "ExtendPCR", index, data }, "ExtendPCR");
    return r.data;
  }

  async lockPcr(index: number): Promise<void> {
    await this.call({ type: "LockPCR", index }, "LockPCR");
  }

  /** Locks PCRs [0, range). */
  async lockPcrs(range: number): Promise<void> {
    await this.call({ type: "LockPCRs", range }, "LockPCRs");
  }

  async getRandom(): Promise<Uint8Array> {
    const r = await this.call({ type: "GetRandom" }, "GetRandom");
    return r.random;
  }

  /** Resolves with the signed attestation document (an untagged COSE_Sign1). */
  async attestation(fields: AttestationRequest = {}): Promise<Uint8Array> {
    const r = await this.call(
      { type: "Attestation", userData: fields.userData ?? null, nonce: fields.nonce ?? null, publicKey: fields.publicKey ?? null },
      "Attestation",
    );
    return r.document;
  }

  close(): void {
    this.device.close();
  }
}
