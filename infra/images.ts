/**
 * Image references, as Docker writes them: `[registry/]repository[:tag][@sha256:<64 hex>]`.
 * Pure functions: the config schema and the policy pack both decide "is this pinned?" here.
 */

const repositoryPart = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
const registryPart = "[a-zA-Z0-9.-]+(?::[0-9]+)?";
const imageReference = new RegExp(
  `^(?:${registryPart}/)?${repositoryPart}(?:/${repositoryPart})*(?::(?<tag>[\\w][\\w.-]{0,127}))?(?:@(?<digest>sha256:[a-f0-9]{64}))?$`,
);

/** Tags that teams move from build to build: deploying one is deploying "whatever it is today". */
const movingTags = new Set([
  "latest",
  "main",
  "master",
  "stable",
  "edge",
  "dev",
  "develop",
  "nightly",
  "prod",
]);

/**
 * A version tag (`1.4`, `1.4.2`, `v2.0.0-rc.1`, `2026.11.23`, `1.4.2-bookworm`: a number, a dot, a
 * number, then anything), a date build (`20261123-042`) or a git commit id.
 */
const immutableTag =
  /^(?:v?\d+\.\d+(?:[-+.][0-9A-Za-z.-]+)?|v?\d{8,}(?:[-.][0-9A-Za-z.-]+)?|[0-9a-f]{7,40})$/;

export interface ImageReference {
  tag?: string;
  digest?: string;
}

/** Parses an image reference; `undefined` when it is not one Docker would accept. */
export function parseImageReference(reference: string): ImageReference | undefined {
  const match = imageReference.exec(reference);
  if (!match?.groups) return undefined;
  return { tag: match.groups.tag, digest: match.groups.digest };
}

/**
 * Why `reference` is not pinned, or `undefined` when it is: a digest, or a tag that names one
 * build for good. An untagged reference means `latest`.
 */
export function unpinnedImageReason(reference: string): string | undefined {
  const parsed = parseImageReference(reference);
  if (!parsed) return "is not a valid image reference";
  if (parsed.digest) return undefined;
  if (!parsed.tag) return "has no tag (Docker reads that as `latest`)";
  if (movingTags.has(parsed.tag.toLowerCase())) return `uses the moving tag \`${parsed.tag}\``;
  if (!immutableTag.test(parsed.tag))
    return `uses \`${parsed.tag}\`, which does not look like a version or commit`;
  return undefined;
}
