import { describe, expect, it } from "vitest";
import { decodeEifMetadata, encodeEifMetadata, MAX_METADATA_BYTES, type EifIdentityInfo } from "../src/index.ts";
import { expectRefusal } from "./fixtures.ts";

const INFO: EifIdentityInfo = {
  imageName: "strongroom",
  imageVersion: "1.2.3",
  buildInfo: { buildTime: "1970-01-01T00:00:00+00:00", buildTool: "strongroom", buildToolVersion: "0.1.0", operatingSystem: "Linux", kernelVersion: "6.1.0" },
  dockerInfo: null,
  customInfo: { zeta: [1, "é", true], alpha: { "10": 1, "9": 2, b: null }, "~": 0 },
};

describe("EIF metadata", () => {
  it("is EifIdentityInfo as serde_json writes it: AWS's key names and order, compact, nested keys in byte order", () => {
    expect(new TextDecoder().decode(encodeEifMetadata(INFO))).toBe(
      '{"ImageName":"strongroom","ImageVersion":"1.2.3","BuildMetadata":{"BuildTime":"1970-01-01T00:00:00+00:00","BuildTool":"strongroom",' +
        '"BuildToolVersion":"0.1.0","OperatingSystem":"Linux","KernelVersion":"6.1.0"},"DockerInfo":null,' +
        '"CustomMetadata":{"alpha":{"10":1,"9":2,"b":null},"zeta":[1,"é",true],"~":0}}',
    );
  });

  it("round-trips, and does not depend on the order objects were built in", () => {
    expect(decodeEifMetadata(encodeEifMetadata(INFO))).toEqual(INFO);
    const reordered = { ...INFO, customInfo: { "~": 0, alpha: { b: null, "9": 2, "10": 1 }, zeta: [1, "é", true] } };
    expect(Buffer.from(encodeEifMetadata(reordered)).equals(Buffer.from(encodeEifMetadata(INFO)))).toBe(true);
  });

  it("refuses what is not JSON, and what nitro-cli's reader would refuse", () => {
    expectRefusal(() => encodeEifMetadata({ ...INFO, customInfo: { n: Number.NaN } }), /customInfo.n holds NaN/);
    expectRefusal(() => encodeEifMetadata({ ...INFO, customInfo: new Date(0) }), /non-plain object/);
    expectRefusal(() => encodeEifMetadata({ ...INFO, imageName: 1 as unknown as string }), /imageName must be a string/);
    expectRefusal(() => encodeEifMetadata({ ...INFO, customInfo: "x".repeat(MAX_METADATA_BYTES) }), /at most 1048576/);
    const json = (text: string) => new TextEncoder().encode(text);
    expectRefusal(() => decodeEifMetadata(Uint8Array.of(0xff)), /not UTF-8 JSON/);
    expectRefusal(() => decodeEifMetadata(json('{"ImageName":1}')), /"ImageName" is not a string/);
    expectRefusal(() => decodeEifMetadata(json('{"ImageName":"a","ImageVersion":"b","BuildMetadata":[]}')), /"BuildMetadata" is not a JSON object/);
    const withoutDocker = new TextDecoder().decode(encodeEifMetadata(INFO)).replace('"DockerInfo":null,', "");
    expectRefusal(() => decodeEifMetadata(json(withoutDocker)), /"DockerInfo" is missing/);
    expectRefusal(() => decodeEifMetadata(new Uint8Array(MAX_METADATA_BYTES + 1)), /at most 1048576/);
  });
});
