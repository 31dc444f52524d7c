// KMS key policy statements for enclave images, judged by the KMS simulator's
// policy evaluator (the same subset of IAM's language that KMS applies).
import { describe, expect, test } from "vitest";
import { evaluate, parsePolicy, type RequestContext } from "../../sim/src/kms/policy.ts";
import { enclaveKeyPolicy, enclaveStatements, keyAdministrationStatement, keyPolicy, pcrManifest } from "../src/policy.ts";

const ROLE = "arn:aws:iam::111122223333:role/strongroom-parent";
const KEY = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const pcr = (digit: string) => digit.repeat(96);
const OLD = { PCR0: pcr("a"), PCR1: pcr("b"), PCR2: pcr("c") };
const NEW = { PCR0: pcr("d"), PCR1: pcr("b"), PCR2: pcr("e"), PCR8: pcr("f") };

function request(action: string, pcrs: Record<string, string>): RequestContext {
  const values = new Map(Object.entries(pcrs).map(([name, value]) => [`kms:recipientattestation:${name.toLowerCase()}`, value.toUpperCase()]));
  if (pcrs["PCR0"] !== undefined) values.set("kms:recipientattestation:imagesha384", pcrs["PCR0"]);
  return { caller: { principalArn: ROLE, accountId: "111122223333" }, action, resource: KEY, values };
}

describe("enclave key policy statements", () => {
  const policy = parsePolicy(keyPolicy([keyAdministrationStatement("arn:aws:iam::111122223333:root"), ...enclaveStatements(ROLE, [OLD, NEW], KEY)]), "key");

  test("each image, in full, may Decrypt and GenerateDataKey (hex in any case); nothing may Encrypt", () => {
    for (const image of [OLD, NEW]) {
      expect(evaluate(policy, request("kms:Decrypt", image))).toBe("allow");
      expect(evaluate(policy, request("kms:GenerateDataKey", image))).toBe("allow");
      expect(evaluate(policy, request("kms:Encrypt", image))).toBe("no-allow");
    }
  });

  test("one image's PCR0 with another's PCR2 is refused: the statements pair them", () => {
    expect(evaluate(policy, request("kms:Decrypt", { ...OLD, PCR2: NEW.PCR2 }))).toBe("no-allow");
    expect(evaluate(policy, request("kms:Decrypt", { ...NEW, PCR1: pcr("0") }))).toBe("no-allow");
  });

  test("a signed image's statement also pins PCR8; without an attestation document nothing is allowed", () => {
    expect(evaluate(policy, request("kms:Decrypt", { ...NEW, PCR8: pcr("9") }))).toBe("no-allow");
    expect(evaluate(policy, request("kms:Decrypt", {}))).toBe("no-allow");
  });

  test("the statements name ImageSha384 and every PCR given, one statement per image", () => {
    const statements = enclaveStatements(ROLE, [OLD, NEW], KEY);
    expect(statements.map((s) => s.Sid)).toEqual(["EnclaveImage1", "EnclaveImage2"]);
    expect(statements[1]!.Condition!.StringEqualsIgnoreCase).toEqual({
      "kms:RecipientAttestation:ImageSha384": NEW.PCR0,
      "kms:RecipientAttestation:PCR0": NEW.PCR0,
      "kms:RecipientAttestation:PCR1": NEW.PCR1,
      "kms:RecipientAttestation:PCR2": NEW.PCR2,
      "kms:RecipientAttestation:PCR8": NEW.PCR8,
    });
    expect(statements.every((s) => s.Resource === KEY && s.Principal.AWS === ROLE)).toBe(true);
  });

  test("the simulator's policy: the role administers the key and uses it only from the image's PCR0", () => {
    const simulated = parsePolicy(enclaveKeyPolicy(ROLE, OLD.PCR0), "key");
    expect(evaluate(simulated, { ...request("kms:Decrypt", OLD), resource: "*" })).toBe("allow");
    expect(evaluate(simulated, { ...request("kms:Decrypt", NEW), resource: "*" })).toBe("no-allow");
    expect(evaluate(simulated, { ...request("kms:PutKeyPolicy", {}), resource: "*" })).toBe("allow");
  });

  test("the PCR manifest lists each image's PCRs", () => {
    expect(pcrManifest([{ ...OLD }, NEW])).toEqual([OLD, NEW]);
  });
});
