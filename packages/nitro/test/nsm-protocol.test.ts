// The NSM's CBOR messages pinned byte for byte against hand-assembled CBOR (serde_cbor's encoding of
// nsm-io's Request/Response), and the strict decoders' refusals.
import { decode as cborxDecode } from "cbor-x";
import { describe, expect, it } from "vitest";
import {
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
  NSM_ERROR_CODES,
  NSM_REQUEST_MAX_SIZE,
  NSM_RESPONSE_MAX_SIZE,
  NsmProtocolError,
  type NsmRequest,
  type NsmResponse,
} from "../src/nsm/index.ts";

// Hand assembly: `hex` for literal bytes, `tx` for a short text string (head 0x60 + length, < 24).
const hex = (h: string) => h.replace(/\s+/g, "");
const tx = (s: string) => {
  if (s.length >= 24) throw new Error("tx() only does short strings");
  return (0x60 + s.length).toString(16) + Buffer.from(s, "ascii").toString("hex");
};
const bytesOf = (...parts: string[]) => new Uint8Array(Buffer.from(parts.join(""), "hex"));
const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("requests, byte for byte", () => {
  it("unit variants are bare text strings", () => {
    expect(toHex(encodeRequest({ type: "DescribeNSM" }))).toBe(hex("6b 44657363726962654e534d")); // "DescribeNSM"
    expect(toHex(encodeRequest({ type: "GetRandom" }))).toBe(hex("69 47657452616e646f6d")); // "GetRandom"
  });

  it("DescribePCR, LockPCR and LockPCRs are one-entry maps around a field map", () => {
    // {"DescribePCR": {"index": 3}}
    expect(toHex(encodeRequest({ type: "DescribePCR", index: 3 }))).toBe(hex("a1 6b 4465736372696265504352 a1 65 696e646578 03"));
    expect(toHex(encodeRequest({ type: "LockPCR", index: 17 }))).toBe(["a1", tx("LockPCR"), "a1", tx("index"), "11"].join(""));
    // u16 in its shortest form: 32 needs the one-byte argument 0x18.
    expect(toHex(encodeRequest({ type: "LockPCRs", range: 32 }))).toBe(["a1", tx("LockPCRs"), "a1", tx("range"), "1820"].join(""));
    expect(toHex(encodeRequest({ type: "DescribePCR", index: 0x1234 }))).toBe(["a1", tx("DescribePCR"), "a1", tx("index"), "191234"].join(""));
  });

  it("ExtendPCR: index then data, data a plain byte string (major type 2, no tag)", () => {
    const bytes = encodeRequest({ type: "ExtendPCR", index: 16, data: new Uint8Array([1, 2, 3]) });
    expect(toHex(bytes)).toBe(hex("a1 69 457874656e64504352 a2 65 696e646578 10 64 64617461 43 010203"));
    // A Buffer is a Uint8Array too, and must not pick up a typed-array tag either.
    const fromBuffer = encodeRequest({ type: "ExtendPCR", index: 16, data: Buffer.from([1, 2, 3]) });
    expect(toHex(fromBuffer)).toBe(toHex(bytes));
  });

  it("Attestation always carries user_data, nonce and public_key, in that order, null when absent", () => {
    const none = encodeRequest({ type: "Attestation", userData: null, nonce: null, publicKey: null });
    expect(toHex(none)).toBe(["a1", tx("Attestation"), "a3", tx("user_data"), "f6", tx("nonce"), "f6", tx("public_key"), "f6"].join(""));
    const some = encodeRequest({ type: "Attestation", userData: new Uint8Array([0xaa]), nonce: null, publicKey: new Uint8Array(300).fill(7) });
    expect(toHex(some)).toBe(["a1", tx("Attestation"), "a3", tx("user_data"), "41aa", tx("nonce"), "f6", tx("public_key"), "59012c", "07".repeat(300)].join(""));
  });

  it("cbor-x reads our byte strings as plain bytes", () => {
    const decoded = cborxDecode(Buffer.from(encodeRequest({ type: "ExtendPCR", index: 16, data: new Uint8Array([9, 8]) }))) as { ExtendPCR: { data: Uint8Array } };
    expect(decoded.ExtendPCR.data).toBeInstanceOf(Uint8Array);
    expect([...decoded.ExtendPCR.data]).toEqual([9, 8]);
  });

  it("refuses to encode values that are not u16 or not bytes", () => {
    expect(() => encodeRequest({ type: "DescribePCR", index: 65536 })).toThrow(RangeError);
    expect(() => encodeRequest({ type: "DescribePCR", index: -1 })).toThrow(RangeError);
    expect(() => encodeRequest({ type: "DescribePCR", index: 1.5 })).toThrow(RangeError);
    expect(() => encodeRequest({ type: "ExtendPCR", index: 16, data: [1, 2] as unknown as Uint8Array })).toThrow(TypeError);
    expect(() => encodeRequest({ type: "Reboot" } as unknown as NsmRequest)).toThrow(TypeError);
  });
});

describe("responses, byte for byte", () => {
  const zeros48 = "00".repeat(48);

  it("LockPCR and LockPCRs are bare strings; errors are {\"Error\": code}", () => {
    expect(toHex(encodeResponse({ type: "LockPCR" }))).toBe(tx("LockPCR"));
    expect(toHex(encodeResponse({ type: "LockPCRs" }))).toBe(tx("LockPCRs"));
    expect(toHex(encodeResponse({ type: "Error", code: "ReadOnlyIndex" }))).toBe(hex("a1 65 4572726f72 6d 526561644f6e6c79496e646578"));
  });

  it("DescribePCR: lock then data; ExtendPCR: data", () => {
    expect(toHex(encodeResponse({ type: "DescribePCR", lock: true, data: new Uint8Array(48) }))).toBe(["a1", tx("DescribePCR"), "a2", tx("lock"), "f5", tx("data"), "5830", zeros48].join(""));
    expect(toHex(encodeResponse({ type: "ExtendPCR", data: new Uint8Array(48) }))).toBe(["a1", tx("ExtendPCR"), "a1", tx("data"), "5830", zeros48].join(""));
  });

  it("DescribeNSM: fields in declaration order, locked_pcrs an array of integers, digest a string", () => {
    const moduleId = "i-0123456789abcdef0-enc0123456789abcdef"; // 39 characters: head 78 27
    const bytes = encodeResponse({
      type: "DescribeNSM",
      versionMajor: 1,
      versionMinor: 0,
      versionPatch: 0,
      moduleId,
      maxPcrs: 32,
      lockedPcrs: [15, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14],
      digest: "SHA384",
    });
    const expected = [
      "a1",
      tx("DescribeNSM"),
      "a7",
      tx("version_major"),
      "01",
      tx("version_minor"),
      "00",
      tx("version_patch"),
      "00",
      tx("module_id"),
      "7827",
      Buffer.from(moduleId).toString("hex"),
      tx("max_pcrs"),
      "1820",
      tx("locked_pcrs"),
      "90000102030405060708090a0b0c0d0e0f",
      tx("digest"),
      tx("SHA384"),
    ].join("");
    expect(toHex(bytes)).toBe(expected);
  });

  it("Attestation and GetRandom carry byte strings with the right length heads", () => {
    expect(toHex(encodeResponse({ type: "GetRandom", random: new Uint8Array(256).fill(0xab) }))).toBe(["a1", tx("GetRandom"), "a1", tx("random"), "590100", "ab".repeat(256)].join(""));
    expect(toHex(encodeResponse({ type: "Attestation", document: new Uint8Array([0x84, 0x40]) }))).toBe(["a1", tx("Attestation"), "a1", tx("document"), "42", "8440"].join(""));
  });
});

describe("round trips", () => {
  const requests: NsmRequest[] = [
    { type: "DescribeNSM" },
    { type: "GetRandom" },
    { type: "DescribePCR", index: 31 },
    { type: "ExtendPCR", index: 16, data: new Uint8Array([1, 2, 3]) },
    { type: "ExtendPCR", index: 16, data: new Uint8Array(0) },
    { type: "LockPCR", index: 20 },
    { type: "LockPCRs", range: 32 },
    { type: "Attestation", userData: null, nonce: null, publicKey: null },
    { type: "Attestation", userData: new Uint8Array([1]), nonce: new Uint8Array(0), publicKey: new Uint8Array([2, 3]) },
  ];
  it.each(requests.map((r) => [r.type, r] as const))("request %s", (_, request) => {
    expect(decodeRequest(encodeRequest(request))).toEqual(request);
  });

  const responses: NsmResponse[] = [
    { type: "DescribePCR", lock: false, data: new Uint8Array(48).fill(1) },
    { type: "ExtendPCR", data: new Uint8Array(48).fill(2) },
    { type: "LockPCR" },
    { type: "LockPCRs" },
    { type: "DescribeNSM", versionMajor: 1, versionMinor: 2, versionPatch: 3, moduleId: "i-x-enc-y", maxPcrs: 32, lockedPcrs: [0, 1, 16], digest: "SHA384" },
    { type: "Attestation", document: new Uint8Array([1, 2, 3]) },
    { type: "GetRandom", random: new Uint8Array(256).fill(9) },
    ...NSM_ERROR_CODES.map((code) => ({ type: "Error" as const, code })),
  ];
  it.each(responses.map((r) => [r.type === "Error" ? `Error ${r.code}` : r.type, r] as const))("response %s", (_, response) => {
    expect(decodeResponse(encodeResponse(response))).toEqual(response);
  });

  it("decoded byte strings are copies: zeroing the message afterwards (as the client does) leaves them", () => {
    const response = encodeResponse({ type: "GetRandom", random: new Uint8Array(256).fill(0xab) });
    const decoded = decodeResponse(response);
    response.fill(0);
    expect(decoded).toEqual({ type: "GetRandom", random: new Uint8Array(256).fill(0xab) });
    const request = encodeRequest({ type: "ExtendPCR", index: 16, data: new Uint8Array([1, 2, 3]) });
    const read = decodeRequest(request);
    request.fill(0);
    expect(read).toEqual({ type: "ExtendPCR", index: 16, data: new Uint8Array([1, 2, 3]) });
  });

  it("every one of the nine error strings decodes from hand-assembled bytes", () => {
    const codes = ["Success", "InvalidArgument", "InvalidIndex", "InvalidResponse", "ReadOnlyIndex", "InvalidOperation", "BufferTooSmall", "InputTooLarge", "InternalError"];
    expect([...NSM_ERROR_CODES]).toEqual(codes);
    for (const code of codes) {
      expect(decodeResponse(bytesOf("a1", tx("Error"), tx(code)))).toEqual({ type: "Error", code });
    }
  });

  it("accepts response fields in any order (QEMU's NSM writes them alphabetically)", () => {
    // {"DescribePCR": {"data": h'00'*48, "lock": false}}
    const r = decodeResponse(bytesOf("a1", tx("DescribePCR"), "a2", tx("data"), "5830", "00".repeat(48), tx("lock"), "f4"));
    expect(r).toEqual({ type: "DescribePCR", lock: false, data: new Uint8Array(48) });
  });

  it("a missing Option field of Attestation reads as null (serde's default), an explicit null too", () => {
    const r = decodeRequest(bytesOf("a1", tx("Attestation"), "a1", tx("nonce"), "42", "0102"));
    expect(r).toEqual({ type: "Attestation", userData: null, nonce: new Uint8Array([1, 2]), publicKey: null });
    expect(decodeRequest(bytesOf("a1", tx("Attestation"), "a0"))).toEqual({ type: "Attestation", userData: null, nonce: null, publicKey: null });
  });
});

describe("strict request decoding: what is refused and with which NSM error", () => {
  const refused = (message: Uint8Array) => {
    try {
      decodeRequest(message);
    } catch (error) {
      expect(error).toBeInstanceOf(NsmProtocolError);
      return { code: (error as NsmProtocolError).nsmCode, message: (error as Error).message };
    }
    throw new Error("expected a refusal");
  };

  it.each([
    ["empty input", "InvalidOperation", bytesOf(""), /not valid CBOR \(Unexpected end of CBOR data\)/],
    ["truncated map", "InvalidOperation", bytesOf("a1", tx("DescribePCR"), "a1", tx("index")), /Unexpected end of CBOR data/],
    ["truncated byte string", "InvalidOperation", bytesOf("a1", tx("ExtendPCR"), "a2", tx("index"), "10", tx("data"), "4301"), /Unexpected end of CBOR data/],
    ["unknown variant (string)", "InvalidOperation", bytesOf(tx("Reboot")), /unknown request "Reboot"/],
    ["unknown variant (map)", "InvalidOperation", bytesOf("a1", tx("Reboot"), "a0"), /unknown request/],
    ["a response sent as a request", "InvalidOperation", bytesOf("a1", tx("Error"), tx("InternalError")), /unknown request "Error"/],
    ["an integer", "InvalidOperation", bytesOf("01"), /expected a text string or a one-entry map/],
    ["a two-entry top-level map", "InvalidOperation", bytesOf("a2", tx("GetRandom"), "f6", tx("DescribeNSM"), "f6"), /exactly one variant/],
    ["a non-text variant name", "InvalidOperation", bytesOf("a1", "01", "a0"), /not a text string/],
    ["trailing bytes", "InvalidOperation", bytesOf(tx("GetRandom"), "00"), /end of buffer not reached/],
    ["a tag-64 typed array for data", "InvalidOperation", bytesOf("a1", tx("ExtendPCR"), "a2", tx("index"), "10", tx("data"), "d840", "43010203"), /not canonical/],
    ["an indefinite-length map", "InvalidOperation", bytesOf("bf", tx("GetRandom"), "f6", "ff"), /not canonical/],
    ["a float index", "InvalidOperation", bytesOf("a1", tx("DescribePCR"), "a1", tx("index"), "f94000"), /not canonical/],
    ["a long-form index", "InvalidOperation", bytesOf("a1", tx("DescribePCR"), "a1", tx("index"), "1803"), /not canonical/],
    ["an 8-byte index", "InvalidOperation", bytesOf("a1", tx("DescribePCR"), "a1", tx("index"), "1b0000000000000003"), /not canonical/],
    ["invalid UTF-8", "InvalidOperation", bytesOf("62c328"), /not canonical/],
    ["a huge declared length", "InvalidOperation", bytesOf("5b", "ffffffffffffffff"), /length over 4294967295/],
    ["a huge declared array", "InvalidOperation", bytesOf("9a", "7fffffff"), /Array length exceeds/],
    // Whether the stack runs out while decoding, while encoding back or not at all depends on its size; the answer does not.
    ["deep nesting", "InvalidOperation", bytesOf("81".repeat(4000), "00"), /call stack|expected a text string or a one-entry map, got an array/],
    ["CBOR undefined as a variant's content", "InvalidOperation", bytesOf("a1", tx("GetRandom"), "f7"), /CBOR undefined/],
    ["duplicate field (not canonical: a map keeps one of them)", "InvalidOperation", bytesOf("a1", tx("DescribePCR"), "a2", tx("index"), "01", tx("index"), "02"), /not canonical/],
    ["index as text", "InvalidArgument", bytesOf("a1", tx("DescribePCR"), "a1", tx("index"), tx("3")), /unsigned integer/],
    ["negative index", "InvalidArgument", bytesOf("a1", tx("DescribePCR"), "a1", tx("index"), "20"), /unsigned integer/],
    ["index beyond u16", "InvalidArgument", bytesOf("a1", tx("LockPCR"), "a1", tx("index"), "1a00010000"), /u16/],
    ["missing index", "InvalidArgument", bytesOf("a1", tx("DescribePCR"), "a0"), /missing the field "index"/],
    ["unknown field", "InvalidArgument", bytesOf("a1", tx("DescribePCR"), "a2", tx("index"), "01", tx("extra"), "01"), /unknown field "extra"/],
    ["CBOR undefined as a field", "InvalidArgument", bytesOf("a1", tx("Attestation"), "a1", tx("nonce"), "f7"), /nonce" as CBOR undefined/],
    ["an index beyond 32 bits (a bigint)", "InvalidArgument", bytesOf("a1", tx("DescribePCR"), "a1", tx("index"), "1b0000000100000000"), /unsigned integer, got a bigint/],
    ["a tag that survives re-encoding", "InvalidArgument", bytesOf("a1", tx("DescribePCR"), "a1", tx("index"), "d903e8", "01"), /unsigned integer, got a tagged value/],
    ["data as an array of integers", "InvalidArgument", bytesOf("a1", tx("ExtendPCR"), "a2", tx("index"), "10", tx("data"), "83010203"), /byte string/],
    ["data as text (QEMU accepts it; the nsm-io type does not)", "InvalidArgument", bytesOf("a1", tx("ExtendPCR"), "a2", tx("index"), "10", tx("data"), tx("abc")), /byte string/],
    ["fields not a map", "InvalidArgument", bytesOf("a1", tx("LockPCRs"), "81", "01"), /must be a map/],
    ["a unit variant with content", "InvalidArgument", bytesOf("a1", tx("GetRandom"), "f6"), /bare text string/],
    ["a struct variant as a bare name", "InvalidArgument", bytesOf(tx("DescribePCR")), /bare name/],
    ["user_data as an array", "InvalidArgument", bytesOf("a1", tx("Attestation"), "a1", tx("user_data"), "80"), /byte string/],
  ] as const)("%s → %s", (_, code, message, text) => {
    const r = refused(message);
    expect(r.code).toBe(code);
    expect(r.message).toMatch(text);
  });

  it("an oversized request → InputTooLarge, before parsing", () => {
    const big = encodeRequest({ type: "ExtendPCR", index: 16, data: new Uint8Array(NSM_REQUEST_MAX_SIZE) });
    expect(big.length).toBeGreaterThan(NSM_REQUEST_MAX_SIZE);
    expect(refused(big).code).toBe("InputTooLarge");
    const justFits = encodeRequest({ type: "ExtendPCR", index: 16, data: new Uint8Array(NSM_REQUEST_MAX_SIZE - 27) });
    expect(justFits.length).toBe(NSM_REQUEST_MAX_SIZE);
    expect(decodeRequest(justFits).type).toBe("ExtendPCR");
  });
});

describe("strict response decoding", () => {
  const refusedResponse = (message: Uint8Array) => {
    try {
      decodeResponse(message);
    } catch (error) {
      expect(error).toBeInstanceOf(NsmProtocolError);
      expect((error as NsmProtocolError).nsmCode).not.toBe("InvalidOperation");
      return (error as Error).message;
    }
    throw new Error("expected a refusal");
  };

  it.each([
    ["an unknown error code", bytesOf("a1", tx("Error"), tx("Exploded")), /unknown error code "Exploded"/],
    ["an error code that is not a string", bytesOf("a1", tx("Error"), "01"), /unknown error code/],
    ["an unknown response", bytesOf("a1", tx("Reboot"), "a0"), /unknown response/],
    ["a PCR of the wrong length", bytesOf("a1", tx("ExtendPCR"), "a1", tx("data"), "43010203"), /not a PCR/],
    ["lock that is not a boolean", bytesOf("a1", tx("DescribePCR"), "a2", tx("lock"), "01", tx("data"), "5830", "00".repeat(48)), /boolean/],
    ["an unknown digest", bytesOf("a1", tx("DescribeNSM"), "a7", tx("version_major"), "01", tx("version_minor"), "00", tx("version_patch"), "00", tx("module_id"), tx("m"), tx("max_pcrs"), "1820", tx("locked_pcrs"), "80", tx("digest"), tx("MD5")), /digest/],
    ["duplicate locked PCRs", bytesOf("a1", tx("DescribeNSM"), "a7", tx("version_major"), "01", tx("version_minor"), "00", tx("version_patch"), "00", tx("module_id"), tx("m"), tx("max_pcrs"), "1820", tx("locked_pcrs"), "820101", tx("digest"), tx("SHA384")), /twice/],
    ["an empty document", bytesOf("a1", tx("Attestation"), "a1", tx("document"), "40"), /empty/],
    ["a request variant", bytesOf(tx("GetRandom")), /GetRandom/],
  ] as const)("%s", (_, message, text) => {
    expect(refusedResponse(message)).toMatch(text);
  });

  it("a response larger than the driver's 12288-byte buffer is refused", () => {
    const big = encodeResponse({ type: "Attestation", document: new Uint8Array(NSM_RESPONSE_MAX_SIZE) });
    expect(() => decodeResponse(big)).toThrow(/exceeds the 12288-byte limit/);
  });

  it("a response nested as deep as its 12288 bytes allow is refused cleanly", () => {
    expect(() => decodeResponse(bytesOf("81".repeat(NSM_RESPONSE_MAX_SIZE - 1), "00"))).toThrow(NsmProtocolError);
  });

  it("random bytes never crash either decoder", () => {
    let seed = 12345;
    const next = () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
    for (let n = 0; n < 3000; n++) {
      const message = new Uint8Array(1 + (next() % 40)).map(() => next());
      for (const decode of [decodeRequest, decodeResponse]) {
        try {
          decode(message);
        } catch (error) {
          expect(error).toBeInstanceOf(NsmProtocolError);
        }
      }
    }
  });
});
