import { pino, type Logger } from "pino";

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace"] as const;

/** JSON logs to stdout. Secrets are Uint8Arrays that are never handed to the logger (DESIGN.md §12). */
export function createLogger(level: string): Logger {
  return pino({ level, base: { service: "strongroom" }, timestamp: pino.stdTimeFunctions.isoTime });
}
