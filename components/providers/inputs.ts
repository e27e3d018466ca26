/**
 * What the dynamic providers share about their inputs. Kept free of Pulumi and of Node
 * modules at run time (only types come from the SDK): it is serialized into every provider
 * that uses it.
 */
import type { Input } from "@pulumi/pulumi";

/**
 * A value as a resource argument takes it: the value, or an Input of it, at every level of its
 * lists and maps (`{ image: container.image }` where the provider gets `{ image: "sha256:..." }`).
 */
export type InputOf<T> = Input<T> | Input<Deep<T>>;
type Deep<T> = T extends readonly (infer E)[]
  ? InputOf<E>[]
  : T extends object
    ? { [K in keyof T]: InputOf<T[K]> }
    : T;

/**
 * A dynamic resource's public arguments, derived from the inputs its provider receives, so the
 * two never drift apart and each field is documented once, on the inputs.
 */
export type ArgsOf<Inputs> = { [K in keyof Inputs]: InputOf<Inputs[K]> };

/** One thing wrong with a dynamic resource's inputs, named by the input a user set. */
export interface InputProblem {
  property: string;
  reason: string;
}

/** TCP ports, as every input takes them. */
export const portRange = { min: 1, max: 65535 } as const;

export function isPort(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= portRange.min && (value as number) <= portRange.max;
}

/** The reason a value that is not a port gets. */
export function portReason(value: unknown): string {
  return `expected a port ${portRange.min}-${portRange.max}, got ${JSON.stringify(value)}`;
}

/** A host name or IP address, as a check reaches it (from the target). */
export function isHost(value: unknown): value is string {
  return typeof value === "string" && /^[A-Za-z0-9.:-]+$/.test(value);
}

/** The reason a value that is not a host gets. */
export function hostReason(value: unknown): string {
  return `expected a host name or IP address, got ${JSON.stringify(value)}`;
}

/** A pinned host key as `ssh-keyscan` prints it, without the host name. */
export const hostKeyLine = /^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa) [A-Za-z0-9+/]+={0,3}$/;

/** JSON with object keys sorted: state comes back from the engine with its keys in any order. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) =>
    inner && typeof inner === "object" && !Array.isArray(inner)
      ? Object.fromEntries(Object.entries(inner).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : inner,
  );
}

/** What the engine sends, in a preview, for a value another resource has not computed yet. */
export const unknownValue = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

export function isKnown(value: unknown): boolean {
  return value !== unknownValue;
}

/**
 * A provider's `check` answer: the inputs as they came and what is wrong with them, leaving out
 * the problems of inputs a preview does not know yet (they are judged once known, in the update).
 * A problem belongs to the input its property starts with: `smokeChecks[0].path` to `smokeChecks`.
 */
export function checked<Inputs extends object>(
  news: Inputs,
  problems: InputProblem[],
): { inputs: Inputs; failures: InputProblem[] } {
  const bag = news as Record<string, unknown>;
  return {
    inputs: news,
    failures: problems.filter((problem) => isKnown(bag[problem.property.split(/[.[]/)[0]])),
  };
}

/**
 * Throws when there are problems: the first as `property: reason`, or, after `lead`, all of them
 * as `property reason; property reason` (for reasons worded `must be ...`).
 */
export function throwIfProblems(problems: InputProblem[], lead?: string): void {
  if (problems.length === 0) return;
  if (lead === undefined) throw new Error(`${problems[0].property}: ${problems[0].reason}`);
  throw new Error(`${lead}: ${problems.map((p) => `${p.property} ${p.reason}`).join("; ")}`);
}

/**
 * An `Error` callers tell apart by its `name`, with any fields it carries. A plain `Error`, not
 * a subclass: closure serialization rebuilds a class as a function that calls `Error` without
 * `new`, so a serialized subclass would lose its message inside the dynamic provider host.
 */
export function providerError<Name extends string, Fields extends object = object>(
  name: Name,
  message: string,
  fields?: Fields,
): Error & Fields & { name: Name } {
  return Object.assign(new Error(message), fields, { name });
}

/** The text with every occurrence of a secret masked: messages quote what tools said, never a secret. */
export function redact(text: string, secret: string, mask: string): string {
  return secret === "" ? text : text.split(secret).join(mask);
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
