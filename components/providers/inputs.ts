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
