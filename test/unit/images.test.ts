import assert from "node:assert/strict";
import fc from "fast-check";
import { parseImageReference, unpinnedImageReason } from "../../infra/images";

const digest = `sha256:${"a4b83de85ac075671f67a524a0935d4b08e5c467f2f9002f6c7c10e9096b0a78"}`;

describe("image references", () => {
  it("reads the tag and the digest of the references these stacks use", () => {
    assert.deepEqual(parseImageReference("postgres"), { tag: undefined, digest: undefined });
    assert.deepEqual(parseImageReference("postgres:16.4-bookworm"), {
      tag: "16.4-bookworm",
      digest: undefined,
    });
    assert.deepEqual(parseImageReference(`ghcr.io/acme/shop-api@${digest}`), { tag: undefined, digest });
    assert.deepEqual(parseImageReference(`ghcr.io/acme/shop-api:2.15.0@${digest}`), {
      tag: "2.15.0",
      digest,
    });
    assert.deepEqual(parseImageReference(`127.0.0.1:5000/switchyard/postgres@${digest}`), {
      tag: undefined,
      digest,
    });
    assert.deepEqual(parseImageReference("registry.example.com:5000/team/shop:3f9c2e1"), {
      tag: "3f9c2e1",
      digest: undefined,
    });
  });

  it("accepts the separators Docker allows inside a repository name", () => {
    for (const reference of [
      "my_app",
      "my__app",
      "my-app",
      "my--app",
      "my.app",
      "a1/b2/c3",
      "Registry.Example.COM/app",
    ]) {
      assert.notEqual(parseImageReference(reference), undefined, reference);
    }
  });

  it("refuses what Docker refuses", () => {
    for (const reference of [
      "",
      "Not An Image",
      "Shop-api",
      "shop-api:",
      "shop-api@",
      "shop-api@sha256:abc",
      `shop-api@sha256:${"A".repeat(64)}`,
      `shop-api@sha512:${"a".repeat(64)}`,
      `shop-api@sha256:${"a".repeat(65)}`,
      "shop-api:.hidden",
      "shop-api:-dash",
      `shop-api:${"t".repeat(129)}`,
      "ghcr.io//shop-api",
      "-shop",
      "shop-",
      "shop_-api",
      "shop___api",
      "shop..api",
      "/shop",
      "shop/",
      "registry:port/shop",
      "shop api:1.0.0",
      "shop:1.0.0 ",
      " shop:1.0.0",
      "shop:1.0.0\nother",
      "shop:1.2.3+build.7",
    ]) {
      assert.equal(parseImageReference(reference), undefined, JSON.stringify(reference));
    }
  });

  it("takes tags of up to 128 characters, from word characters, dots and dashes", () => {
    assert.equal(parseImageReference(`shop:${"t".repeat(128)}`)?.tag, "t".repeat(128));
    assert.equal(parseImageReference("shop:_build.7-x")?.tag, "_build.7-x");
  });

  it("reads back the tag and digest of any reference built from valid parts", () => {
    const component = fc.stringMatching(/^[a-z0-9]{1,5}(?:[._-][a-z0-9]{1,5}){0,2}$/);
    const tag = fc.stringMatching(/^[\w][\w.-]{0,20}$/);
    const hex = fc.stringMatching(/^[a-f0-9]{64}$/);
    fc.assert(
      fc.property(
        fc.option(fc.constantFrom("ghcr.io", "registry.example.com:5000", "127.0.0.1:5000"), {
          nil: undefined,
        }),
        fc.array(component, { minLength: 1, maxLength: 3 }),
        fc.option(tag, { nil: undefined }),
        fc.option(hex, { nil: undefined }),
        (registry, path, tagValue, digestHex) => {
          const name = [...(registry ? [registry] : []), ...path].join("/");
          const reference = `${name}${tagValue ? `:${tagValue}` : ""}${digestHex ? `@sha256:${digestHex}` : ""}`;
          assert.deepEqual(parseImageReference(reference), {
            tag: tagValue,
            digest: digestHex ? `sha256:${digestHex}` : undefined,
          });
        },
      ),
    );
  });
});

describe("image pinning", () => {
  const pinned = (reference: string) => assert.equal(unpinnedImageReason(reference), undefined, reference);
  const unpinned = (reference: string, reason: string) =>
    assert.equal(unpinnedImageReason(reference), reason);

  it("counts a digest as pinned, whatever the tag beside it says", () => {
    pinned(`ghcr.io/acme/shop-api@${digest}`);
    pinned(`ghcr.io/acme/shop-api:latest@${digest}`);
    pinned(`ghcr.io/acme/shop-api:feature-x@${digest}`);
  });

  it("counts version tags and commit ids as pinned", () => {
    for (const tag of [
      "2.15.0",
      "v2.15.0-rc.2",
      "1.4",
      "16.4-bookworm",
      "7.4.1-bookworm",
      "2026.11.23",
      "1.2.3.4",
      "2.15.0rc1",
      "20261123",
      "v20261123",
      "20261123-1",
      "20261123-042",
      "20261123.042",
      "3f9c2e1",
      "a4b83de85ac075671f67a524a0935d4b08e5c467",
    ]) {
      pinned(`ghcr.io/acme/shop-api:${tag}`);
    }
  });

  it("refuses a reference without a tag: Docker reads it as latest", () => {
    unpinned("postgres", "has no tag (Docker reads that as `latest`)");
    unpinned("registry.example.com:5000/team/shop", "has no tag (Docker reads that as `latest`)");
  });

  it("refuses every moving tag, in any case, naming it as written", () => {
    for (const tag of ["latest", "main", "master", "stable", "edge", "dev", "develop", "nightly", "prod"]) {
      unpinned(`shop:${tag}`, `uses the moving tag \`${tag}\``);
    }
    unpinned("shop:LATEST", "uses the moving tag `LATEST`");
    unpinned("shop:Main", "uses the moving tag `Main`");
  });

  it("refuses tags that look like versions but name no single build", () => {
    for (const tag of [
      "1",
      "v1",
      "16",
      "1.x",
      "v.1.2",
      "1.2.3_beta",
      "release-1.2.3",
      "bookworm",
      "feature-x",
      "1234567-dirty",
      "abcdefg1x",
      "a4b83de85ac075671f67a524a0935d4b08e5c4671",
      "production",
      "latest-1.2",
    ]) {
      unpinned(`shop:${tag}`, `uses \`${tag}\`, which does not look like a version or commit`);
    }
  });

  it("refuses what is not an image reference before looking at tags", () => {
    unpinned("Not An Image", "is not a valid image reference");
    unpinned("shop:latest extra", "is not a valid image reference");
  });

  it("never counts a reference without a digest as pinned unless its tag is a version or commit", () => {
    const tag = fc.stringMatching(/^[a-z][a-z-]{0,15}$/);
    fc.assert(
      fc.property(tag, (value) => {
        assert.notEqual(unpinnedImageReason(`ghcr.io/acme/shop:${value}`), undefined);
      }),
    );
  });
});
