/**
 * A signing request that cannot be honoured as sent. The message names the JSON field path and what is
 * wrong with it; the HTTP layer answers 400 with it. Messages never echo more than a short prefix of
 * client input.
 */
export class SigningRequestError extends Error {
  override readonly name = "SigningRequestError";
}

/** Throws a SigningRequestError for the field at `path`. */
export function fail(path: string, problem: string): never {
  throw new SigningRequestError(`${path}: ${problem}`);
}

/** A short description of a JSON value for error messages, without echoing long client input. */
export function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return `an array of ${value.length} elements`;
  switch (typeof value) {
    case "string":
      return value.length <= 40 ? JSON.stringify(value) : `a string of ${value.length} characters`;
    case "number":
      return `the number ${String(value).slice(0, 40)}`;
    case "boolean":
      return String(value);
    case "object":
      return "an object";
    default:
      return `a ${typeof value}`;
  }
}
