/**
 * The stack's keys and how Pulumi hands them over, with no dependency: the policy pack, which
 * installs only what policies/package.json declares, reads stacks through this module.
 */

export const PROJECT = "switchyard";

export const slotColours = ["blue", "green"] as const;
export type SlotColour = (typeof slotColours)[number];

/** What serves the router; `components/Router.ts` chooses by it. */
export const routerKinds = ["nginx", "caddy"] as const;
export type RouterKind = (typeof routerKinds)[number];

/** Let's Encrypt's ACME directories. Staging's certificates chain to a root no browser trusts. */
export const letsEncryptDirectories = {
  production: "https://acme-v02.api.letsencrypt.org/directory",
  staging: "https://acme-staging-v02.api.letsencrypt.org/directory",
} as const;

/** ACME directories of public CAs' test environments, whose certificates no browser trusts. */
export const stagingAcmeDirectories = [
  letsEncryptDirectories.staging,
  "https://dv.acme-v02.test-api.pki.goog/directory",
  "https://api.test4.buypass.no/acme/directory",
] as const;

/** Top-level keys whose values are secrets: Pulumi tracks secrecy per top-level key. */
export const secretKeys = [
  "sshPrivateKey",
  "tlsCertificate",
  "tlsKey",
  "appSecrets",
  "accessorySecrets",
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
  /** Full keys of another namespace that reads like ours misspelled (`switchyrd:activeSlot`). */
  misspelled?: string[];
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
  const misspelled: string[] = [];
  for (const [fullKey, text] of Object.entries(all)) {
    const namespace = fullKey.slice(0, Math.max(0, fullKey.indexOf(":")));
    if (namespace !== PROJECT) {
      if (looksLikeOurs(namespace)) misspelled.push(fullKey);
      continue;
    }
    const key = fullKey.slice(PROJECT.length + 1);
    values[key] = decodeValue(text);
    if (isSecret(fullKey)) secret.add(key);
  }
  return { values, secret, misspelled };
}

/** Two edits or fewer from our namespace, in any case: a typo, not another provider's settings. */
function looksLikeOurs(namespace: string): boolean {
  const a = namespace.toLowerCase();
  const b = PROJECT;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++)
      current[j] = Math.min(
        previous[j] + 1,
        current[j - 1] + 1,
        previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    previous = current;
  }
  return namespace !== "" && previous[b.length] <= 2;
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
