// KMS key policy statements that let an instance role use a vault key only
// from given enclave images, and the PCR manifest that clients pin for the
// same images. One generator, used by `strongroom eif policy` and by the
// simulator (packages/sim), which applies it to its KMS keys.
//
// Each image gets its own statement, so one image's PCR0 cannot be paired
// with another's PCR2: within one statement every condition key must match,
// and a list of values for one key would mean any of them.
import type { EifPcrs } from "./measure.ts";

/** An image's measurements, lowercase hex; PCR0 is required, the others pin more when given. */
export type ImagePcrs = Pick<EifPcrs, "PCR0"> & Partial<Omit<EifPcrs, "PCR0">>;

export interface KeyPolicyStatement {
  readonly Sid: string;
  readonly Effect: "Allow";
  readonly Principal: { readonly AWS: string };
  readonly Action: readonly string[];
  readonly Resource: string;
  readonly Condition?: { readonly StringEqualsIgnoreCase: Readonly<Record<string, string>> };
}

/** Managing a key, never using it: no Encrypt, Decrypt or data keys. */
const ADMINISTRATION_ACTIONS = ["kms:DescribeKey", "kms:GetKeyPolicy", "kms:PutKeyPolicy", "kms:EnableKey", "kms:DisableKey", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion"] as const;
/** What the vault calls; never kms:Encrypt (a parent that could encrypt could plant shares of a key it knows). */
const ENCLAVE_ACTIONS = ["kms:Decrypt", "kms:GenerateDataKey"] as const;
const PCR_KEYS = ["PCR0", "PCR1", "PCR2", "PCR8"] as const;

/** Lets `principalArn` administer the key. */
export function keyAdministrationStatement(principalArn: string): KeyPolicyStatement {
  return { Sid: "KeyAdministration", Effect: "Allow", Principal: { AWS: principalArn }, Action: [...ADMINISTRATION_ACTIONS], Resource: "*" };
}

/**
 * One statement per image: `roleArn` may call Decrypt and GenerateDataKey on
 * `resource` (a key policy's "*" is the key itself) only with a Recipient
 * attestation document of that image: its ImageSha384 (PCR0) and each PCR given.
 */
export function enclaveStatements(roleArn: string, images: readonly ImagePcrs[], resource = "*"): KeyPolicyStatement[] {
  return images.map((image, index) => {
    const conditions: Record<string, string> = { "kms:RecipientAttestation:ImageSha384": image.PCR0 };
    for (const key of PCR_KEYS) {
      const value = image[key];
      if (value !== undefined) conditions[`kms:RecipientAttestation:${key}`] = value;
    }
    return {
      Sid: `EnclaveImage${index + 1}`,
      Effect: "Allow",
      Principal: { AWS: roleArn },
      Action: [...ENCLAVE_ACTIONS],
      Resource: resource,
      Condition: { StringEqualsIgnoreCase: conditions },
    };
  });
}

/** A key policy document of these statements. */
export function keyPolicy(statements: readonly KeyPolicyStatement[]): string {
  return JSON.stringify({ Version: "2012-10-17", Statement: statements });
}

/**
 * The policy the README tells operators to apply to each vault key, for one
 * image: `roleArn` administers the key and may use it only from the image
 * whose PCR0 is `pcr0Hex`.
 */
export function enclaveKeyPolicy(roleArn: string, pcr0Hex: string): string {
  return keyPolicy([keyAdministrationStatement(roleArn), ...enclaveStatements(roleArn, [{ PCR0: pcr0Hex }])]);
}

/** The PCR manifest of the images (packages/atls pcr-manifest.ts): a list, any entry of which a client accepts. */
export function pcrManifest(images: readonly ImagePcrs[]): ImagePcrs[] {
  return images.map((image) => Object.fromEntries(PCR_KEYS.filter((key) => image[key] !== undefined).map((key) => [key, image[key]])) as ImagePcrs);
}
