import { pino, type DestinationStream, type Logger } from "pino";

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace"] as const;

/** JSON logs to stdout. Secrets are Uint8Arrays that are never handed to the logger (DESIGN.md §12). */
export function createLogger(level: string, destination?: DestinationStream, service = "strongroom"): Logger {
  const options = { level, base: { service }, timestamp: pino.stdTimeFunctions.isoTime };
  return destination === undefined ? pino(options) : pino(options, destination);
}
