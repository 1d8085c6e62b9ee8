// What every fuzz target asserts: a decoder given any bytes returns a value or throws one of its
// module's typed errors; anything else (a TypeError, a RangeError, a stack overflow, a failed round
// trip) is a finding. Targets export `fuzz(data: Buffer)` (the shape Jazzer.js runs as well),
// optionally `seeds` (known vectors to start from) and `dictionary` (tokens the mutator splices in).

import assert from 'node:assert/strict';

/** A fuzz target module, as scripts/fuzz.ts loads it. */
export interface FuzzTarget {
  fuzz(data: Buffer): void;
  seeds?: () => Uint8Array[];
  dictionary?: readonly (string | Uint8Array)[];
  /** Longest input the mutator makes (seeds may be longer). */
  maxLength?: number;
}

// biome-ignore lint/suspicious/noExplicitAny: an error class of any constructor signature
type ErrorClass = abstract new (...args: any[]) => Error;

/** A thrown value that breaks the contract; the engine reports it with the input that caused it. */
export class ContractViolation extends Error {
  override readonly name = 'ContractViolation';
}

/** Runs `fn`; returns its value, or undefined when it threw one of `allowed`; any other throw is a finding. */
export function typedOnly<T>(
  what: string,
  allowed: readonly ErrorClass[],
  fn: () => T,
  onTyped?: (err: Error) => void,
): T | undefined {
  try {
    return fn();
  } catch (err) {
    if (allowed.some((c) => err instanceof c)) {
      // A typed error still owes the user a message: one line saying what is wrong.
      const message = (err as Error).message;
      if (message.length === 0) throw new ContractViolation(`${what}: typed error with an empty message`);
      onTyped?.(err as Error);
      return undefined;
    }
    throw new ContractViolation(`${what} threw ${describe(err)}`, { cause: err });
  }
}

/** Asserts inside a target; a failure is a finding with this message. */
export function check(ok: unknown, message: string): asserts ok {
  if (!ok) throw new ContractViolation(message);
}

/** Deep equality as node:assert sees it, reported as a finding. */
export function same(actual: unknown, expected: unknown, message: string): void {
  try {
    assert.deepStrictEqual(actual, expected);
  } catch (err) {
    throw new ContractViolation(`${message}: ${(err as Error).message.split('\n').slice(0, 12).join('\n')}`);
  }
}

function describe(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return `a non-error value ${String(err)}`;
}

/** Splits `data` into a first byte (a selector the target switches on) and the rest. */
export function selector(data: Buffer): [number, Buffer] {
  return [data.length > 0 ? data[0]! : 0, data.subarray(1)];
}
