/**
 * What the dynamic providers share about their inputs. Kept free of Pulumi and of Node
 * modules: it is serialized into every provider that uses it.
 */

/** One thing wrong with a dynamic resource's inputs, named by the input a user set. */
export interface InputProblem {
  property: string;
  reason: string;
}

/** JSON with object keys sorted: state comes back from the engine with its keys in any order. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) =>
    inner && typeof inner === "object" && !Array.isArray(inner)
      ? Object.fromEntries(Object.entries(inner).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : inner,
  );
}
