/**
 * An error that maps to a specific HTTP status. Every failure a client can
 * cause is one of these, so nothing a client sends can produce a 500.
 */
export class HttpError extends Error {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;

  constructor(status: number, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = "HttpError";
    this.status = status;
    this.headers = headers;
  }
}
