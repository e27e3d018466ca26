/**
 * The stack's keys and how Pulumi hands them over, with no dependency: the policy pack, which
 * installs only what policies/package.json declares, reads stacks through this module.
 */

export const PROJECT = "switchyard";

export const slotColours = ["blue", "green"] as const;
export type SlotColour = (typeof slotColours)[number];

/** Top-level keys whose values are secrets: Pulumi tracks secrecy per top-level key. */
export const secretKeys = [
  "sshPrivateKey",
  "tlsCertificate",
  "tlsKey",
  "appSecrets",
  "githubToken",
  "netlifyToken",
  "pulumiAccessToken",
  "pulumiConfigPassphrase",
] as const;
export type SecretKey = (typeof secretKeys)[number];

export interface RawStackConfig {
  /** Values by key without the `switchyard:` prefix, objects already decoded from JSON. */
  values: Record<string, unknown>;
  /** Keys (without prefix) that Pulumi holds as secrets. */
  secret: ReadonlySet<string>;
}

/**
 * Reads Pulumi's raw config map (`switchyard:key` -> string, objects as JSON) into the shape
 * `parseStackConfig` takes. Keys of other namespaces (`docker:host`, ...) are not ours.
 */
export function decodeRawConfig(
  all: Record<string, string>,
  isSecret: (fullKey: string) => boolean,
): RawStackConfig {
  const values: Record<string, unknown> = {};
  const secret = new Set<string>();
  for (const [fullKey, text] of Object.entries(all)) {
    if (!fullKey.startsWith(`${PROJECT}:`)) continue;
    const key = fullKey.slice(PROJECT.length + 1);
    values[key] = decodeValue(text);
    if (isSecret(fullKey)) secret.add(key);
  }
  return { values, secret };
}

/** Pulumi hands objects over as JSON text; anything that does not parse stays a string for the schema to judge. */
function decodeValue(text: string): unknown {
  if (!/^\s*[[{]/.test(text)) return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
