/**
 * Reads the text logs of a Jepsen single-register test (the format of `jepsen-etcd/`) into a
 * history, so the checker can be proven against histories with known verdicts.
 *
 * One event a line, fields separated by tabs or runs of spaces:
 *   `INFO  jepsen.util - 2	:invoke	:cas	[3 0]`
 * Time is the (1-based) line number. An `:invoke` opens an operation for its process; the next
 * `:ok`, `:fail` or `:info` of that process closes it. The input comes from the invoke line;
 * an ok read's value from the `:ok` line. `:info` (and an invoke never closed) means unknown
 * outcome, so `ret` is Infinity; Jepsen then gives the next request a fresh process number.
 */

import type { Input, Operation, RegisterValue, Status } from './history.js';

export interface JepsenLogOptions {
  /** The key all operations are put on. Default 'r'. */
  readonly key?: string;
}

const EVENT = /^\S+\s+\S+\s+-\s+(\S+)\s+:(invoke|ok|fail|info)\s+:(\S+)\s*(.*?)\s*$/;

interface Open {
  readonly process: number | string;
  readonly f: string;
  readonly input: Input;
  readonly call: number;
}

/** Parses a whole log. Throws on lines it does not understand, naming the line. */
export function parseJepsenLog(text: string, options: JepsenLogOptions = {}): Operation[] {
  const key = options.key ?? 'r';
  const ops: Operation[] = [];
  const open = new Map<string, Open>();
  const lines = text.split(/\r?\n/);
  lines.forEach((line, index) => {
    const time = index + 1;
    if (line.trim() === '') return;
    const match = EVENT.exec(line);
    if (match === null) throw new SyntaxError(`line ${time}: not a Jepsen event: ${line}`);
    const [, processText, type, f, valueText] = match;
    if (processText === ':nemesis') return; // Fault injection, not a client operation.
    const process = /^\d+$/.test(processText) ? Number(processText) : processText;
    const pending = open.get(processText);
    if (type === 'invoke') {
      if (pending !== undefined) throw new SyntaxError(`line ${time}: process ${processText} invokes twice`);
      open.set(processText, { process, f, input: parseInput(f, valueText, time), call: time });
      return;
    }
    if (pending === undefined || pending.f !== f) {
      throw new SyntaxError(`line ${time}: :${type} :${f} without a matching :invoke`);
    }
    open.delete(processText);
    const status = type as Status;
    const output = status === 'ok' && f === 'read' ? parseValue(valueText, time) : undefined;
    ops.push({
      process,
      key,
      input: pending.input,
      ...(output === undefined ? {} : { output }),
      call: pending.call,
      ret: status === 'info' ? Infinity : time,
      status,
    });
  });
  // Still open at the end: the outcome is unknown.
  for (const pending of open.values()) {
    ops.push({ process: pending.process, key, input: pending.input, call: pending.call, ret: Infinity, status: 'info' });
  }
  return ops;
}

function parseInput(f: string, valueText: string, line: number): Input {
  switch (f) {
    case 'read':
      return { kind: 'read' };
    case 'write':
      return { kind: 'write', value: parseValue(valueText, line) };
    case 'cas': {
      const pair = /^\[\s*(\S+)\s+(\S+)\s*\]$/.exec(valueText);
      if (pair === null) throw new SyntaxError(`line ${line}: cas needs [from to], got ${valueText}`);
      return { kind: 'cas', from: parseValue(pair[1], line), to: parseValue(pair[2], line) };
    }
    default:
      throw new SyntaxError(`line ${line}: unknown operation :${f}`);
  }
}

/** `nil` is absent; integers and decimals are numbers; `"..."` is a string. */
function parseValue(text: string, line: number): RegisterValue {
  if (text === 'nil') return null;
  if (/^-?\d+(\.\d+)?$/.test(text)) return Number(text);
  if (/^".*"$/.test(text)) return JSON.parse(text) as string;
  throw new SyntaxError(`line ${line}: unknown value ${text}`);
}
