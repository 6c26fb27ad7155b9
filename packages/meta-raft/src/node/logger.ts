import { pino } from 'pino';

export type Logger = pino.Logger;

/**
 * Structured JSON logs (pino) on stdout. The level comes from CAIRN_LOG_LEVEL (default info);
 * tests set it to silent or send a node's log to its own file.
 */
export function createLogger(bindings: Record<string, unknown>, level = process.env['CAIRN_LOG_LEVEL'] ?? 'info'): Logger {
  return pino({ level, base: bindings, timestamp: pino.stdTimeFunctions.isoTime });
}
