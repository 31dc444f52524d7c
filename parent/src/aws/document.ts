// The JSON credential document that IMDS and the container credential endpoints (ECS, EKS Pod
// Identity) both answer with:
//   { "Code": "Success", "LastUpdated": "…", "Type": "AWS-HMAC",
//     "AccessKeyId": "ASIA…", "SecretAccessKey": "…", "Token": "…", "Expiration": "2026-…Z" }
// IMDS sends Code, LastUpdated and Type; the container endpoints may add AccountId or RoleArn.
// Fields beyond the four that matter are ignored: these are AWS's documents, not ours, and AWS adds
// fields without notice.
import { AwsCredentials, type CredentialSourceName, InvalidCredentialsError } from "./credentials.ts";
import { CredentialSourceError } from "./http.ts";

/** A credential document is a few KiB; anything much larger is not one. */
export const CREDENTIAL_DOCUMENT_MAX_BYTES = 64 * 1024;

/** RFC 3339 with a zone, as AWS writes it ("2026-11-21T19:10:28Z"); Date.parse alone accepts far more. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/i;

export function parseTimestamp(text: string): Date | undefined {
  if (!RFC3339.test(text)) return undefined;
  const time = Date.parse(text);
  return Number.isNaN(time) ? undefined : new Date(time);
}

export function parseCredentialDocument(source: CredentialSourceName, body: string): AwsCredentials {
  const malformed = (what: string, cause?: unknown) => new CredentialSourceError(source, "malformed", what, { cause });
  let document: unknown;
  try {
    document = JSON.parse(body);
  } catch {
    // The body may hold a secret: the message never quotes it.
    throw malformed("the credential document is not JSON");
  }
  if (typeof document !== "object" || document === null || Array.isArray(document)) throw malformed("the credential document is not a JSON object");
  const fields = document as Record<string, unknown>;
  if (fields.Code !== undefined && fields.Code !== "Success") {
    const code = typeof fields.Code === "string" ? fields.Code.slice(0, 64) : "not a string";
    const message = typeof fields.Message === "string" ? `: ${fields.Message.slice(0, 200)}` : "";
    throw malformed(`the endpoint reports Code ${JSON.stringify(code)}${message}`);
  }
  for (const name of ["AccessKeyId", "SecretAccessKey", "Token", "Expiration"] as const) {
    if (typeof fields[name] !== "string") throw malformed(`the credential document has no ${name} string`);
  }
  const expiration = parseTimestamp(fields.Expiration as string);
  if (expiration === undefined) throw malformed("Expiration is not an RFC 3339 time");
  try {
    return new AwsCredentials(source, {
      accessKeyId: fields.AccessKeyId as string,
      secretAccessKey: fields.SecretAccessKey as string,
      sessionToken: fields.Token as string,
      expiration,
    });
  } catch (error) {
    if (error instanceof InvalidCredentialsError) throw malformed(error.message, error);
    throw error;
  }
}
