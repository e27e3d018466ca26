import { strict as assert } from "node:assert";
import { generateKeyPairSync } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { utils as sshUtils } from "ssh2";
import {
  ConfigError,
  decodeRawConfig,
  defaultRouterImages,
  parseStackConfig,
  routerImage,
  type RawStackConfig,
  secretKeys,
} from "../../infra/config";
import { configReference, replaceConfigReference } from "../../infra/configReference";

const repoRoot = path.resolve(__dirname, "../..");

const minimal = (values: Record<string, unknown> = {}): RawStackConfig => ({
  values: {
    slots: {
      blue: { build: "examples/demo-app", version: "1.0.0" },
      green: { build: "examples/demo-app", version: "1.0.0" },
    },
    ...values,
  },
  secret: new Set(),
});

function problemsOf(raw: RawStackConfig): string[] {
  try {
    parseStackConfig(raw);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `a ConfigError, not ${error}`);
    return error.problems;
  }
  assert.fail("the config was accepted");
}

describe("config schema", () => {
  it("takes migration validations, and names a repeated name, an empty query and `unchanged` without a snapshot", () => {
    const migrations = (validations: unknown[], skip = false) =>
      minimal({
        migrations: { build: "examples/demo-app", version: "004", validations },
        snapshots: { skip },
      });
    const kept = { name: "stories kept", query: "SELECT count(*) FROM stories", expect: "unchanged" };
    assert.deepEqual(parseStackConfig(migrations([kept])).migrations?.validations, [kept]);
    assert.deepEqual(
      parseStackConfig(minimal({ migrations: { build: "x", version: "1" } })).migrations?.validations,
      [],
    );
    assert.deepEqual(
      problemsOf(migrations([kept, { ...kept, query: " " }, { ...kept, name: "other" }], true)),
      [
        "switchyard:migrations.validations.1.query: an SQL query",
        "switchyard:migrations.validations.0.expect: unchanged compares with the value read with the snapshot, which snapshots.skip turns off",
        "switchyard:migrations.validations.1.name: is used by an earlier validation: names must differ",
        "switchyard:migrations.validations.1.expect: unchanged compares with the value read with the snapshot, which snapshots.skip turns off",
        "switchyard:migrations.validations.2.expect: unchanged compares with the value read with the snapshot, which snapshots.skip turns off",
      ],
    );
  });

  it("refuses a deployment name that is not a Docker-safe label, or is the unnamed deployment's, naming the key", () => {
    for (const bad of ["Stage", "stage_1", "-stage", "stage-", "a".repeat(33), "switchyard"]) {
      assert.throws(
        () => parseStackConfig(minimal({ deployment: bad })),
        (error: Error) => {
          const reason = /^ {2}- switchyard:deployment: (.*)$/m.exec(error.message)?.[1];
          return reason !== undefined && !reason.includes(bad);
        },
        bad,
      );
    }
    assert.equal(parseStackConfig(minimal({ deployment: "stage" })).deployment, "stage");
  });

  it("documents every key", () => {
    const undocumented = configReference()
      .filter((row) => !row.description)
      .map((row) => row.key);
    assert.deepEqual(undocumented, []);
  });

  it("the README's config reference is the one the schema renders", () => {
    const readme = fs.readFileSync(path.join(repoRoot, "README.md"), "utf8");
    assert.equal(readme, replaceConfigReference(readme), "run `npm run docs:config` and commit README.md");
  });

  it("fills safe defaults so a dev stack needs only its slots", () => {
    const config = parseStackConfig(minimal());
    assert.equal(config.environment, "development");
    assert.equal(config.activeSlot, "blue");
    assert.equal(config.target.host, "unix:///var/run/docker.sock");
    assert.equal(config.router.canaryWeight, 0);
    assert.equal(config.snapshots.retention, 7);
    assert.equal(config.health.path, "/health");
    assert.deepEqual(config.app.loopbackPorts, { blue: 18081, green: 18082 });
  });

  it("names the key path and the expectation, never the value", () => {
    const problems = problemsOf(
      minimal({ router: { canaryWeight: 140 }, appSecrets: { JWT_SECRET: "hunter2-very-secret" } }),
    );
    assert.ok(
      problems.some((p) => /^switchyard:router\.canaryWeight: .*100/.test(p)),
      problems.join("\n"),
    );
    assert.ok(
      problems.some((p) => /^switchyard:appSecrets: .*plain text/.test(p)),
      problems.join("\n"),
    );
    assert.ok(!problems.join("\n").includes("hunter2"), "the secret value is not echoed");
  });

  it("refuses CPU limits the Docker provider would run as another number, naming each key", () => {
    const problems = problemsOf(
      minimal({
        app: { resources: { cpus: 10.05 } },
        database: { resources: { cpus: 20.05 } },
        redis: { resources: { cpus: 2.5 } },
      }),
    );
    assert.deepEqual(
      problems.map((problem) => problem.split(":").slice(0, 2).join(":")),
      ["switchyard:app.resources.cpus", "switchyard:database.resources.cpus"],
    );
    assert.match(problems[0], /Docker would run a different limit/);
    for (const cpus of [0.1, 0.5, 1, 1.5, 10, 64])
      assert.equal(parseStackConfig(minimal({ app: { resources: { cpus } } })).app.resources.cpus, cpus);
  });

  it("refuses an ssh key the SSH client cannot read, without quoting it", () => {
    const pkcs8 = generateKeyPairSync("ed25519")
      .privateKey.export({ format: "pem", type: "pkcs8" })
      .toString();
    const raw = minimal({
      target: { host: "ssh://deploy@203.0.113.10", hostKey: `ssh-ed25519 ${"A".repeat(68)}` },
      sshPrivateKey: pkcs8,
    });
    const problems = problemsOf({ ...raw, secret: new Set(["sshPrivateKey"]) });
    assert.match(problems.join("\n"), /^switchyard:sshPrivateKey: a private key the SSH client can read/m);
    assert.ok(!problems.join("\n").includes(pkcs8.split("\n")[1]), "the key is not echoed");
  });

  it("refuses a non-secret key marked secret, so a secret is not parked where it is shown", () => {
    const raw = minimal({ activeSlot: "green" });
    const problems = problemsOf({ ...raw, secret: new Set(["activeSlot"]) });
    assert.match(problems.join("\n"), /switchyard:activeSlot: is marked secret/);
  });
});

const digest = `sha256:${"a4b83de85ac075671f67a524a0935d4b08e5c467f2f9002f6c7c10e9096b0a78"}`;
const pinnedImage = `ghcr.io/acme/shop-api@${digest}`;
const sshPrivateKey = sshUtils.generateKeyPairSync("ed25519").private;
const hostKey = `ssh-ed25519 ${"A".repeat(68)}`;
const sshTarget = { host: "ssh://deploy@203.0.113.10", hostKey };
const tlsCertificate =
  "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUhunter2\n-----END CERTIFICATE-----\n";
const tlsKey = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49hunter2\n-----END PRIVATE KEY-----\n";
/** An ACME account: every other key of router.tls.acme has a default. */
const acme = { email: "ops@example.com" };
const legoImage = "goacme/lego:v4.20.4";
const githubToken = `github_pat_${"hunter2".repeat(6)}`;
const netlifyToken = `nfp_${"hunter2".repeat(6)}`;
const pulumiAccessToken = `pul-${"hunter2".repeat(6)}`;
const siteId = "9a2d7e41-5c3b-4f08-b6e1-7d40c2a8f3e5";

/** `minimal(values)` plus `secrets`, held as secrets the way `pulumi config set --secret` holds them. */
function withSecrets(secrets: Record<string, unknown>, values: Record<string, unknown> = {}): RawStackConfig {
  return { values: minimal({ ...values, ...secrets }).values, secret: new Set(Object.keys(secrets)) };
}

const pinnedSlot = { image: pinnedImage, version: "1.0.0" };
const pinnedSlots = { blue: pinnedSlot, green: pinnedSlot };
/** A stack whose every image passes the production rules, in `environment`. */
const pinned = (environment: string, values: Record<string, unknown> = {}) =>
  minimal({ environment, slots: pinnedSlots, ...values });

const github = (section: Record<string, unknown> = {}) => ({
  owner: "acme",
  repository: "shop",
  environment: "stage",
  ...section,
});
/** The secrets a github section needs by default. */
const githubSecrets = { githubToken, pulumiAccessToken };

/** The env names the program sets itself. */
const reservedEnvNames = ["DATABASE_URL", "REDIS_URL", "APP_VERSION", "SLOT", "PORT"];

describe("config rules", () => {
  /**
   * Each rule: a config it refuses, with the one problem it reports (key path and the start of
   * the message), and its near miss, which it accepts.
   */
  const rules: {
    rule: string;
    refused: RawStackConfig;
    problem: [string, string];
    accepted: RawStackConfig;
  }[] = [
    {
      rule: "a slot needs an image or a build",
      refused: minimal({ slots: { blue: { version: "1.0.0" }, green: pinnedSlot } }),
      problem: ["slots.blue.image", "set exactly one of `image`, `build` or `binary`"],
      accepted: minimal({ slots: { blue: pinnedSlot, green: pinnedSlot } }),
    },
    {
      rule: "a slot takes an image or a build, not both",
      refused: minimal({ slots: { blue: pinnedSlot, green: { ...pinnedSlot, build: "examples/demo-app" } } }),
      problem: ["slots.green.image", "set exactly one of `image`, `build` or `binary`"],
      accepted: minimal({
        slots: { blue: pinnedSlot, green: { build: "examples/demo-app", version: "1.0.0" } },
      }),
    },
    {
      rule: "migrations need an image or a build",
      refused: minimal({ migrations: { version: "7" } }),
      problem: ["migrations.image", "set exactly one of `image` or `build`"],
      accepted: minimal({ migrations: { build: "examples/demo-app", version: "7" } }),
    },
    {
      rule: "an ssh:// host needs its host key pinned",
      refused: withSecrets({ sshPrivateKey }, { target: { host: sshTarget.host } }),
      problem: ["target.hostKey", "required for ssh:// hosts, so the host key is pinned"],
      accepted: withSecrets({ sshPrivateKey }, { target: sshTarget }),
    },
    {
      rule: "an ssh:// host needs the private key",
      refused: minimal({ target: sshTarget }),
      problem: ["sshPrivateKey", "required for ssh:// hosts (set it with --secret)"],
      accepted: withSecrets({ sshPrivateKey }, { target: sshTarget }),
    },
    {
      rule: "a host key only goes with an ssh:// host",
      refused: minimal({ target: { host: "unix:///run/docker.sock", hostKey } }),
      problem: ["target.hostKey", "only applies to ssh:// hosts"],
      accepted: minimal({ target: { host: "unix:///run/docker.sock" } }),
    },
    {
      rule: "a TLS certificate needs its key",
      refused: withSecrets({ tlsCertificate }),
      problem: ["tlsKey", "TLS needs both tlsCertificate and tlsKey"],
      accepted: withSecrets({ tlsCertificate, tlsKey }),
    },
    {
      rule: "a TLS key needs its certificate",
      refused: withSecrets({ tlsKey }),
      problem: ["tlsCertificate", "TLS needs both tlsCertificate and tlsKey"],
      accepted: withSecrets({ tlsCertificate, tlsKey }),
    },
    {
      rule: "app.env cannot set what switchyard sets",
      refused: minimal({ app: { env: { APP_VERSION: "9.9.9" } } }),
      problem: ["app.env.APP_VERSION", "is set by switchyard itself"],
      accepted: minimal({ app: { env: { APP_VERSION_LABEL: "9.9.9" } } }),
    },
    {
      rule: "app.env holds no secret-looking names",
      refused: minimal({ app: { env: { STRIPE_API_KEY: "sk_live_hunter2" } } }),
      problem: ["app.env.STRIPE_API_KEY", "looks like a secret: put it in appSecrets"],
      accepted: minimal({ app: { env: { STRIPE_API_BASE: "https://api.stripe.com" } } }),
    },
    {
      rule: "appSecrets cannot set what switchyard sets",
      refused: withSecrets({ appSecrets: { DATABASE_URL: "postgres://hunter2@db/app" } }),
      problem: ["appSecrets.DATABASE_URL", "is set by switchyard itself"],
      accepted: withSecrets({ appSecrets: { LEGACY_DATABASE_URL: "postgres://hunter2@db/app" } }),
    },
    {
      rule: "a name is in appSecrets or app.env, not both",
      refused: withSecrets(
        { appSecrets: { SESSION_KEY: "hunter2" } },
        { app: { env: { SESSION_KEY: "x" } } },
      ),
      problem: ["appSecrets.SESSION_KEY", "is also in app.env: keep one"],
      accepted: withSecrets(
        { appSecrets: { SESSION_KEY: "hunter2" } },
        { app: { env: { SESSION_TTL: "3600" } } },
      ),
    },
    {
      rule: "the slots' loopback ports differ",
      refused: minimal({ app: { loopbackPorts: { blue: 18090, green: 18090 } } }),
      problem: ["app.loopbackPorts.green", "must differ from app.loopbackPorts.blue: both bind on the host"],
      accepted: minimal({ app: { loopbackPorts: { blue: 18090, green: 18091 } } }),
    },
    {
      rule: "HTTP and HTTPS listen on different ports",
      refused: minimal({ router: { httpPort: 8443, httpsPort: 8443 } }),
      problem: ["router.httpsPort", "must differ from router.httpPort: both bind on the host"],
      accepted: minimal({ router: { httpPort: 8080, httpsPort: 8443 } }),
    },
    {
      rule: "a slot's loopback port is not one the router listens on (the router runs in the host's network)",
      refused: minimal({ app: { loopbackPorts: { blue: 18080 } } }),
      problem: ["app.loopbackPorts.blue", "must differ from router.checkPort: both bind on the host"],
      accepted: minimal({ app: { loopbackPorts: { blue: 18079 } } }),
    },
    {
      rule: "a canary allowlist names values of a canary key",
      refused: minimal({ router: { canaryAllowlist: ["vip-1"] } }),
      problem: ["router.canaryAllowlist", "needs router.canaryKey: the allowlist holds values of that key"],
      accepted: minimal({ router: { canaryKey: "cookie:account_id", canaryAllowlist: ["vip-1"] } }),
    },
    {
      rule: "a canary key is a cookie nginx can name, or a header",
      refused: minimal({ router: { canaryKey: "cookie:account-id" } }),
      problem: ["router.canaryKey", "cookie:<name> or header:<Name>"],
      accepted: minimal({ router: { canaryKey: "header:X-Account-Id" } }),
    },
    {
      rule: "the check listener's port is not a public one",
      refused: minimal({ router: { httpPort: 8080, checkPort: 8080 } }),
      problem: ["router.checkPort", "must differ from router.httpPort: both bind on the host"],
      accepted: minimal({ router: { httpPort: 8080, checkPort: 8081 } }),
    },
    {
      rule: "production builds no slot image",
      refused: pinned("production", {
        slots: { blue: pinnedSlot, green: { build: "app", version: "1.0.0" } },
      }),
      problem: ["slots.green.build", "production runs registry images only: set `image`"],
      accepted: pinned("staging", { slots: { blue: pinnedSlot, green: { build: "app", version: "1.0.0" } } }),
    },
    {
      rule: "production runs no slot on a moving tag",
      refused: pinned("production", {
        slots: { ...pinnedSlots, blue: { image: "ghcr.io/acme/shop:latest", version: "1" } },
      }),
      problem: [
        "slots.blue.image",
        "uses the moving tag `latest`; production needs a digest or an immutable",
      ],
      accepted: pinned("staging", {
        slots: { ...pinnedSlots, blue: { image: "ghcr.io/acme/shop:latest", version: "1" } },
      }),
    },
    {
      rule: "production pins the database image",
      refused: pinned("production", { database: { image: "postgres:16" } }),
      problem: [
        "database.image",
        "uses `16`, which does not look like a version or commit; production needs",
      ],
      accepted: pinned("development", { database: { image: "postgres:16" } }),
    },
    {
      rule: "a canary pinned per user needs the nginx router",
      refused: minimal({ router: { kind: "caddy", canaryKey: "cookie:account_id" } }),
      problem: ["router.canaryKey", "needs router.kind nginx: Caddy has no hash of a cookie or header"],
      accepted: minimal({ router: { kind: "nginx", canaryKey: "cookie:account_id" } }),
    },
    {
      rule: "a pasted certificate needs the nginx router",
      refused: withSecrets({ tlsCertificate, tlsKey }, { router: { kind: "caddy" } }),
      problem: ["tlsCertificate", "needs router.kind nginx: the caddy router gets its certificates itself"],
      accepted: withSecrets({ tlsCertificate, tlsKey }, { router: { kind: "nginx" } }),
    },
    {
      rule: "an ACME client's image is for the nginx router",
      refused: minimal({
        router: {
          kind: "caddy",
          serverName: "shop.example.com",
          tls: { acme: { ...acme, image: legoImage } },
        },
      }),
      problem: ["router.tls.acme.image", "needs router.kind nginx: Caddy is its own ACME client"],
      accepted: minimal({
        router: {
          kind: "nginx",
          serverName: "shop.example.com",
          tls: { acme: { ...acme, image: legoImage } },
        },
      }),
    },
    {
      rule: "production pins the ACME client's image, and its default passes",
      refused: pinned("production", {
        router: { serverName: "shop.example.com", tls: { acme: { ...acme, image: "goacme/lego:latest" } } },
      }),
      problem: ["router.tls.acme.image", "uses the moving tag `latest`; production needs a digest"],
      accepted: pinned("production", { router: { serverName: "shop.example.com", tls: { acme } } }),
    },
    {
      rule: "an ACME certificate is for host names HTTP-01 can prove",
      refused: minimal({ router: { tls: { acme } } }),
      problem: ["router.serverName", "router.tls.acme needs the site's host names: not _, and no wildcard"],
      accepted: minimal({ router: { serverName: "shop.example.com www.shop.example.com", tls: { acme } } }),
    },
    {
      rule: "an ACME certificate has no wildcard name",
      refused: minimal({ router: { serverName: "shop.example.com *.shop.example.com", tls: { acme } } }),
      problem: [
        "router.serverName",
        "router.tls.acme needs the site's host names: not _, and no wildcard, which",
      ],
      accepted: minimal({ router: { serverName: "shop.example.com", tls: { acme } } }),
    },
    {
      rule: "the certificate comes from ACME or is pasted, not both",
      refused: withSecrets(
        { tlsCertificate, tlsKey },
        { router: { serverName: "shop.example.com", tls: { acme } } },
      ),
      problem: [
        "router.tls.acme",
        "the certificate comes from ACME or from tlsCertificate and tlsKey: unset one",
      ],
      accepted: withSecrets({ tlsCertificate, tlsKey }, { router: { serverName: "shop.example.com" } }),
    },
    {
      rule: "the ACME directory is an HTTPS URL",
      refused: minimal({
        router: {
          serverName: "shop.example.com",
          tls: { acme: { ...acme, directory: "http://ca.internal/dir" } },
        },
      }),
      problem: ["router.tls.acme.directory", ""],
      accepted: minimal({
        router: {
          serverName: "shop.example.com",
          tls: { acme: { ...acme, directory: "https://ca.internal/dir" } },
        },
      }),
    },
    {
      rule: "the ACME account has a contact address",
      refused: minimal({ router: { serverName: "shop.example.com", tls: { acme: { email: "ops" } } } }),
      problem: ["router.tls.acme.email", ""],
      accepted: minimal({
        router: { serverName: "shop.example.com", tls: { acme: { email: "ops@example.com" } } },
      }),
    },
    {
      rule: "the router kind is nginx or caddy",
      refused: minimal({ router: { kind: "traefik" } }),
      problem: ["router.kind", ""],
      accepted: minimal({ router: { kind: "caddy" } }),
    },
    {
      rule: "production pins the router image",
      refused: pinned("production", { router: { image: "nginx" } }),
      problem: ["router.image", "has no tag (Docker reads that as `latest`); production needs"],
      accepted: pinned("production", { router: { image: "nginx:1.27.3" } }),
    },
    {
      rule: "production pins the Redis image, when Redis runs",
      refused: pinned("production", { redis: { image: "redis:7" } }),
      problem: ["redis.image", "uses `7`, which does not look like a version or commit; production needs"],
      accepted: pinned("production", { redis: { image: "redis:7", enabled: false } }),
    },
    {
      rule: "production builds no migrations",
      refused: pinned("production", { migrations: { build: "migrations", version: "7" } }),
      problem: ["migrations.build", "production runs registry images only: set `image`"],
      accepted: pinned("production", { migrations: { image: pinnedImage, version: "7" } }),
    },
    {
      rule: "the github section needs a token",
      refused: withSecrets({ pulumiAccessToken }, { github: github() }),
      problem: ["githubToken", "required with the github section (set it with --secret)"],
      accepted: withSecrets(githubSecrets, { github: github() }),
    },
    {
      rule: "an environment secret published must be set",
      refused: withSecrets(githubSecrets, {
        github: github({ secrets: ["pulumiAccessToken", "sshPrivateKey"] }),
      }),
      problem: ["sshPrivateKey", "published by github.secrets but not set (set it with --secret)"],
      accepted: withSecrets(
        { ...githubSecrets, sshPrivateKey },
        { github: github({ secrets: ["pulumiAccessToken", "sshPrivateKey"] }) },
      ),
    },
    {
      rule: "a repository secret published must be set",
      refused: withSecrets(githubSecrets, { github: github({ repositorySecrets: ["netlifyToken"] }) }),
      problem: ["netlifyToken", "published by github.repositorySecrets but not set (set it with --secret)"],
      accepted: withSecrets(
        { ...githubSecrets, netlifyToken },
        { github: github({ repositorySecrets: ["netlifyToken"] }) },
      ),
    },
    {
      rule: "the workflows need a Pulumi access token, or a backend of their own",
      refused: withSecrets({ githubToken }, { github: github({ secrets: [], repositorySecrets: [] }) }),
      problem: ["github.secrets", "must list pulumiAccessToken unless github.backendUrl is set"],
      accepted: withSecrets(
        { githubToken },
        { github: github({ secrets: [], backendUrl: "s3://acme-state" }) },
      ),
    },
    {
      rule: "the access token must be an environment secret, a repository one does not log the deploy in",
      refused: withSecrets(githubSecrets, {
        github: github({ secrets: [], repositorySecrets: ["pulumiAccessToken"] }),
      }),
      problem: ["github.secrets", "must list pulumiAccessToken unless github.backendUrl is set"],
      accepted: withSecrets(githubSecrets, {
        github: github({ secrets: ["pulumiAccessToken"], repositorySecrets: ["pulumiAccessToken"] }),
      }),
    },
    {
      rule: "a self-managed backend takes no access token as an environment secret",
      refused: withSecrets(githubSecrets, { github: github({ backendUrl: "s3://acme-state" }) }),
      problem: ["github.backendUrl", "a self-managed backend takes no Pulumi access token"],
      accepted: withSecrets(
        { githubToken },
        { github: github({ backendUrl: "s3://acme-state", secrets: [] }) },
      ),
    },
    {
      rule: "a self-managed backend takes no access token as a repository secret",
      refused: withSecrets(githubSecrets, {
        github: github({
          backendUrl: "s3://acme-state",
          secrets: [],
          repositorySecrets: ["pulumiAccessToken"],
        }),
      }),
      problem: ["github.backendUrl", "a self-managed backend takes no Pulumi access token"],
      accepted: withSecrets(
        { githubToken },
        { github: github({ backendUrl: "s3://acme-state", secrets: [] }) },
      ),
    },
    {
      rule: "production deploys need a reviewer",
      refused: withSecrets(githubSecrets, {
        environment: "production",
        slots: pinnedSlots,
        github: github(),
      }),
      problem: ["github.reviewers", "production deploys need at least one required reviewer"],
      accepted: withSecrets(githubSecrets, {
        environment: "production",
        slots: pinnedSlots,
        github: github({ reviewers: { users: ["maria"], teams: ["release-managers"] } }),
      }),
    },
    {
      rule: "GitHub takes at most six reviewers",
      refused: withSecrets(githubSecrets, {
        github: github({ reviewers: { users: ["a1", "a2", "a3", "a4"], teams: ["t1", "t2", "t3"] } }),
      }),
      problem: ["github.reviewers", "GitHub allows at most six reviewers, users and teams together"],
      accepted: withSecrets(githubSecrets, {
        github: github({ reviewers: { users: ["a1", "a2", "a3"], teams: ["t1", "t2", "t3"] } }),
      }),
    },
    {
      rule: "an Actions variable cannot set what switchyard sets",
      refused: withSecrets(githubSecrets, { github: github({ variables: { VPS_HOST: "203.0.113.10" } }) }),
      problem: ["github.variables.VPS_HOST", "is set by switchyard itself"],
      accepted: withSecrets(githubSecrets, { github: github({ variables: { VPS_REGION: "eu-west" } }) }),
    },
    {
      rule: "an Actions variable cannot take a secret's name",
      refused: withSecrets(githubSecrets, { github: github({ variables: { VPS_SSH_KEY: "x" } }) }),
      problem: ["github.variables.VPS_SSH_KEY", "is set by switchyard itself"],
      accepted: withSecrets(githubSecrets, { github: github({ variables: { VPS_SSH_PORT: "22" } }) }),
    },
    {
      rule: "an Actions variable stays out of GitHub's namespace",
      refused: withSecrets(githubSecrets, { github: github({ variables: { GITHUB_TOKEN: "x" } }) }),
      problem: ["github.variables.GITHUB_TOKEN", "GitHub reserves the GITHUB_ prefix"],
      accepted: withSecrets(githubSecrets, { github: github({ variables: { MY_GITHUB_ORG: "acme" } }) }),
    },
    {
      rule: "an Actions variable holds no secret-looking name",
      refused: withSecrets(githubSecrets, { github: github({ variables: { DEPLOY_PASSWORD: "hunter2" } }) }),
      problem: [
        "github.variables.DEPLOY_PASSWORD",
        "looks like a secret: Actions variables are shown in plain text",
      ],
      accepted: withSecrets(githubSecrets, { github: github({ variables: { DEPLOY_REGION: "eu" } }) }),
    },
    {
      rule: "the frontend section needs a Netlify token",
      refused: minimal({ frontend: { siteId } }),
      problem: ["netlifyToken", "required with the frontend section (set it with --secret)"],
      accepted: withSecrets({ netlifyToken }, { frontend: { siteId } }),
    },
    {
      rule: "the site variable for the API URL is switchyard's",
      refused: withSecrets({ netlifyToken }, { frontend: { siteId, env: { API_URL: "https://x" } } }),
      problem: ["frontend.env.API_URL", "is set from the router URL (frontend.apiUrlVariable)"],
      accepted: withSecrets(
        { netlifyToken },
        { frontend: { siteId, apiUrlVariable: "BACKEND", env: { API_URL: "x" } } },
      ),
    },
    {
      rule: "the site variable for the API URL is switchyard's, whatever its name",
      refused: withSecrets(
        { netlifyToken },
        { frontend: { siteId, apiUrlVariable: "BACKEND", env: { BACKEND: "x" } } },
      ),
      problem: ["frontend.env.BACKEND", "is set from the router URL (frontend.apiUrlVariable)"],
      accepted: withSecrets({ netlifyToken }, { frontend: { siteId, apiUrlVariable: "BACKEND" } }),
    },
    {
      rule: "a site variable holds no secret-looking name",
      refused: withSecrets({ netlifyToken }, { frontend: { siteId, env: { CMS_TOKEN: "hunter2" } } }),
      problem: ["frontend.env.CMS_TOKEN", "looks like a secret: these site variables are not secret"],
      accepted: withSecrets({ netlifyToken }, { frontend: { siteId, env: { CMS_SPACE: "acme" } } }),
    },
    {
      rule: "an accessory's name has no dash",
      refused: minimal({ accessories: { "object-store": { image: pinnedImage } } }),
      problem: ["accessories.object-store", "lower-case letters and digits, starting with a letter"],
      accepted: minimal({ accessories: { objectstore: { image: pinnedImage } } }),
    },
    {
      rule: "an accessory is not named like a container switchyard runs",
      refused: minimal({ accessories: { router: { image: pinnedImage } } }),
      problem: ["accessories.router", "is a name switchyard gives its own containers, networks or volumes"],
      accepted: minimal({ accessories: { caddy: { image: pinnedImage } } }),
    },
    {
      rule: "an accessory's plain env holds no secret-looking name",
      refused: minimal({
        accessories: { minio: { image: pinnedImage, env: { MINIO_ROOT_PASSWORD: "hunter2" } } },
      }),
      problem: [
        "accessories.minio.env.MINIO_ROOT_PASSWORD",
        "looks like a secret: put it in accessorySecrets.minio",
      ],
      accepted: withSecrets(
        { accessorySecrets: { minio: { MINIO_ROOT_PASSWORD: "hunter2" } } },
        { accessories: { minio: { image: pinnedImage, env: { MINIO_ROOT_USER: "admin" } } } },
      ),
    },
    {
      rule: "accessory secrets belong to an accessory",
      refused: withSecrets(
        { accessorySecrets: { mini0: { MINIO_ROOT_PASSWORD: "hunter2" } } },
        { accessories: { minio: { image: pinnedImage } } },
      ),
      problem: ["accessorySecrets.mini0", "is not an accessory (see accessories)"],
      accepted: withSecrets(
        { accessorySecrets: { minio: { MINIO_ROOT_PASSWORD: "hunter2" } } },
        { accessories: { minio: { image: pinnedImage } } },
      ),
    },
    {
      rule: "an accessory's variable is plain or secret, not both",
      refused: withSecrets(
        { accessorySecrets: { minio: { MINIO_ROOT_USER: "hunter2" } } },
        { accessories: { minio: { image: pinnedImage, env: { MINIO_ROOT_USER: "admin" } } } },
      ),
      problem: ["accessorySecrets.minio.MINIO_ROOT_USER", "is also in accessories.minio.env: keep one"],
      accepted: withSecrets(
        { accessorySecrets: { minio: { MINIO_ROOT_USER: "hunter2" } } },
        { accessories: { minio: { image: pinnedImage } } },
      ),
    },
    {
      rule: "an accessory publishes a port only from the edge network",
      refused: minimal({
        accessories: { minio: { image: pinnedImage, ports: [{ container: 9000, loopback: 19000 }] } },
      }),
      problem: ["accessories.minio.ports", "Docker publishes no port of a container on an internal network"],
      accepted: minimal({
        accessories: {
          minio: { image: pinnedImage, network: "edge", ports: [{ container: 9000, loopback: 19000 }] },
        },
      }),
    },
    {
      rule: "an accessory's loopback port is free on the host",
      refused: minimal({
        accessories: {
          minio: { image: pinnedImage, network: "edge", ports: [{ container: 9000, loopback: 18081 }] },
        },
      }),
      problem: [
        "accessories.minio.ports.0.loopback",
        "must differ from app.loopbackPorts.blue: both bind on the host",
      ],
      accepted: minimal({
        accessories: {
          minio: { image: pinnedImage, network: "edge", ports: [{ container: 9000, loopback: 19000 }] },
        },
      }),
    },
    {
      rule: "a worker's name has no dash",
      refused: minimal({ workers: { "video-encoder": { command: ["node", "worker.js"] } } }),
      problem: ["workers.video-encoder", "lower-case letters and digits, starting with a letter"],
      accepted: minimal({ workers: { video: { command: ["node", "worker.js"] } } }),
    },
    {
      rule: "a worker's env holds no secret-looking name (it gets appSecrets)",
      refused: minimal({ workers: { video: { command: ["w"], env: { S3_SECRET_KEY: "hunter2" } } } }),
      problem: ["workers.video.env.S3_SECRET_KEY", "looks like a secret: put it in appSecrets"],
      accepted: minimal({ workers: { video: { command: ["w"], env: { S3_BUCKET: "videos" } } } }),
    },
    {
      rule: "a worker's env does not set what switchyard sets",
      refused: minimal({ workers: { video: { command: ["w"], env: { WORKER: "other" } } } }),
      problem: ["workers.video.env.WORKER", "is set by switchyard itself"],
      accepted: minimal({ workers: { video: { command: ["w"], env: { QUEUE: "videos" } } } }),
    },
    {
      rule: "production runs accessories from pinned images",
      refused: pinned("production", { accessories: { minio: { image: "minio/minio:latest" } } }),
      problem: ["accessories.minio.image", "uses the moving tag `latest`"],
      accepted: pinned("production", { accessories: { minio: { image: pinnedImage } } }),
    },
  ];

  for (const { rule, refused, problem, accepted } of rules) {
    it(`${rule}: refuses with the key path, accepts the near miss`, () => {
      const [path, message] = problem;
      const problems = problemsOf(refused);
      assert.equal(problems.length, 1, problems.join("\n"));
      assert.ok(problems[0].startsWith(`switchyard:${path}: ${message}`), problems[0]);
      assert.ok(!problems[0].includes("hunter2"), "no value is echoed");
      assert.doesNotThrow(() => parseStackConfig(accepted));
    });
  }

  it("runs each router kind's own image unless router.image names another", () => {
    assert.equal(routerImage(parseStackConfig(minimal({})).router), defaultRouterImages.nginx);
    assert.equal(
      routerImage(parseStackConfig(minimal({ router: { kind: "caddy" } })).router),
      "caddy:2.11.9",
    );
    const named = parseStackConfig(minimal({ router: { kind: "caddy", image: "caddy:2.11" } })).router;
    assert.equal(routerImage(named), "caddy:2.11");
  });

  it("refuses every env name switchyard sets, in app.env and in appSecrets", () => {
    for (const name of reservedEnvNames) {
      assert.deepEqual(problemsOf(minimal({ app: { env: { [name]: "x" } } })), [
        `switchyard:app.env.${name}: is set by switchyard itself`,
      ]);
      assert.deepEqual(problemsOf(withSecrets({ appSecrets: { [name]: "x" } })), [
        `switchyard:appSecrets.${name}: is set by switchyard itself`,
      ]);
    }
  });

  it("a slot with neither image nor build does not hide the cross-key problems", () => {
    const problems = problemsOf(
      minimal({
        slots: { blue: { version: "1.0.0" }, green: { build: "examples/demo-app", version: "1.0.0" } },
        app: { env: { PORT: "80" } },
        router: { httpPort: 8080, httpsPort: 8080 },
      }),
    );
    assert.deepEqual(problems.map((p) => p.slice(0, p.indexOf(": "))).sort(), [
      "switchyard:app.env.PORT",
      "switchyard:router.httpsPort",
      "switchyard:slots.blue.image",
    ]);
  });

  it("reports every problem at once", () => {
    const problems = problemsOf({
      values: {
        ...minimal().values,
        target: { host: sshTarget.host },
        app: { env: { PORT: "80" }, loopbackPorts: { blue: 18090, green: 18090 } },
        appSecrets: { PORT: "hunter2" },
        router: { canaryWeight: 140, httpsPort: 80 },
        tlsKey,
        bogus: true,
      },
      secret: new Set(["appSecrets"]),
    });
    assert.deepEqual(problems.map((p) => p.slice(0, p.indexOf(": "))).sort(), [
      "switchyard:app.env.PORT",
      "switchyard:app.loopbackPorts.green",
      "switchyard:appSecrets.PORT",
      "switchyard:appSecrets.PORT",
      "switchyard:bogus",
      "switchyard:router.canaryWeight",
      "switchyard:router.httpsPort",
      "switchyard:sshPrivateKey",
      "switchyard:target.hostKey",
      "switchyard:tlsCertificate",
      "switchyard:tlsKey",
    ]);
    assert.ok(!problems.join("\n").includes("hunter2"), "no value is echoed");
  });

  it("refuses each secret key given in plain text, and accepts it held as a secret", () => {
    const secrets: Record<string, Record<string, unknown>> = {
      sshPrivateKey: { sshPrivateKey },
      tlsCertificate: { tlsCertificate, tlsKey },
      tlsKey: { tlsCertificate, tlsKey },
      appSecrets: { appSecrets: { SESSION_KEY: "hunter2" } },
      accessorySecrets: { accessorySecrets: { minio: { MINIO_ROOT_PASSWORD: "hunter2" } } },
      githubToken: { githubToken },
      netlifyToken: { netlifyToken },
      pulumiAccessToken: { pulumiAccessToken },
      pulumiConfigPassphrase: { pulumiConfigPassphrase: "hunter2 horse battery" },
    };
    assert.deepEqual(Object.keys(secrets).sort(), [...secretKeys].sort(), "every secret key");
    for (const [key, values] of Object.entries(secrets)) {
      // Accessory secrets need their accessory, which is plain config.
      const held = withSecrets(values, { accessories: { minio: { image: pinnedImage } } });
      assert.doesNotThrow(() => parseStackConfig(held), key);
      const plain = { ...held, secret: new Set([...held.secret].filter((k) => k !== key)) };
      assert.deepEqual(problemsOf(plain), [
        `switchyard:${key}: holds a secret but is in plain text; run \`pulumi config set --secret ${key}\``,
      ]);
    }
  });

  it("names the keys that are kept secret when another key is marked secret, and ignores keys it does not know", () => {
    const raw = minimal({ router: { canaryWeight: 10 } });
    assert.deepEqual(problemsOf({ ...raw, secret: new Set(["router"]) }), [
      `switchyard:router: is marked secret, but only ${secretKeys.join(", ")} are kept secret; move the secret there`,
    ]);
    assert.match(secretKeys.join(", "), /^sshPrivateKey, tlsCertificate, .*pulumiConfigPassphrase$/);
    const unknown = { ...minimal({ extra: "hunter2" }), secret: new Set(["extra"]) };
    assert.deepEqual(problemsOf(unknown), ["switchyard:extra: unknown key"]);
    const absent = { ...minimal(), secret: new Set(["tlsKey", "router"]) };
    assert.doesNotThrow(() => parseStackConfig(absent), "only keys that are set are judged");
  });

  it("returns the parsed config with its defaults when there is no problem", () => {
    const config = parseStackConfig(
      withSecrets({ tlsCertificate, tlsKey }, { router: { canaryWeight: 25 } }),
    );
    assert.equal(config.router.canaryWeight, 25);
    assert.equal(config.router.httpsPort, 443);
    assert.equal(config.tlsKey, tlsKey);
  });

  it("names unknown keys one by one, with their path", () => {
    assert.deepEqual(problemsOf(minimal({ bogus: 1, router: { colour: "red", size: 2 } })).sort(), [
      "switchyard:bogus: unknown key",
      "switchyard:router.colour: unknown key; switchyard:router.size: unknown key",
    ]);
  });

  it("lists the allowed values of an enum, and says required for a missing key", () => {
    assert.deepEqual(problemsOf(minimal({ environment: "live", activeSlot: "red" })), [
      'switchyard:environment: expected one of "development", "staging", "production"',
      'switchyard:activeSlot: expected one of "blue", "green"',
    ]);
    assert.deepEqual(problemsOf({ values: {}, secret: new Set() }), ["switchyard:slots: required"]);
    const noVersion = minimal({ slots: { blue: { build: "app" }, green: pinnedSlot } });
    assert.deepEqual(problemsOf(noVersion), ["switchyard:slots.blue.version: required"]);
  });

  it("passes zod's message on for other problems, without the value", () => {
    const problems = problemsOf(minimal({ router: { httpPort: "8080" }, health: { path: "health" } }));
    assert.deepEqual(problems.sort(), [
      "switchyard:health.path: a path starting with /",
      "switchyard:router.httpPort: Invalid input: expected number, received string",
    ]);
  });
});

describe("Pulumi's raw config map", () => {
  const decoded = (text: string) => decodeRawConfig({ "switchyard:value": text }, () => false).values.value;

  it("takes the switchyard keys without their prefix, and which of them are secret", () => {
    const all = {
      "switchyard:slots": JSON.stringify(minimal().values.slots),
      "switchyard:activeSlot": "green",
      "switchyard:tlsKey": tlsKey,
      "switchyard:tlsCertificate": tlsCertificate,
      "docker:host": "ssh://deploy@203.0.113.10",
      "switchyard-extra:mode": "x",
    };
    const secret = new Set(["switchyard:tlsKey", "switchyard:tlsCertificate", "docker:host"]);
    const raw = decodeRawConfig(all, (key) => secret.has(key));
    assert.deepEqual(raw.values, {
      slots: minimal().values.slots,
      activeSlot: "green",
      tlsKey,
      tlsCertificate,
    });
    assert.deepEqual([...raw.secret].sort(), ["tlsCertificate", "tlsKey"]);
    assert.equal(parseStackConfig(raw).activeSlot, "green");
  });

  it("reports a key whose namespace reads like ours misspelled, with the other problems, never its value", () => {
    const all = {
      "switchyard:slots": JSON.stringify(minimal().values.slots),
      "switchyrd:activeSlot": "green",
      "Switchyard:router": "{}",
      "swtichyard:appSecrets": "hunter2",
      "docker:host": "ssh://deploy@203.0.113.10",
      "pulumi:tags": "{}",
      "switchyard-extra:mode": "x",
      "switchyard:activeSlot": "purple",
    };
    const problems = problemsOf(decodeRawConfig(all, () => false));
    assert.deepEqual(problems.slice(0, 3), [
      "switchyrd:activeSlot: not a switchyard key; did you mean switchyard:activeSlot?",
      "Switchyard:router: not a switchyard key; did you mean switchyard:router?",
      "swtichyard:appSecrets: not a switchyard key; did you mean switchyard:appSecrets?",
    ]);
    assert.match(problems.slice(3).join("\n"), /^switchyard:activeSlot: expected one of/m);
    assert.ok(!problems.join("\n").includes("hunter2"));
  });

  it("decodes objects and arrays from JSON and leaves every other text as it is", () => {
    const cases: [string, unknown][] = [
      ['{"canaryWeight": 10}', { canaryWeight: 10 }],
      ['["node", "migrate.js"]', ["node", "migrate.js"]],
      [' \n {"a": [1]}', { a: [1] }],
      ["{not json", "{not json"],
      ["[1, 2", "[1, 2"],
      ["42", "42"],
      ["true", "true"],
      ["null", "null"],
      ['"[quoted]"', '"[quoted]"'],
      ["api {v2}", "api {v2}"],
      ["", ""],
    ];
    for (const [text, value] of cases) assert.deepEqual(decoded(text), value, JSON.stringify(text));
  });
});

describe("config of the systemd slot runtime", () => {
  const native = (values: Record<string, unknown> = {}) =>
    minimal({
      app: { runtime: "systemd" },
      slots: {
        blue: { binary: "bin/api", version: "1.0.0" },
        green: { binary: "bin/api", version: "1.0.1" },
      },
      database: { loopbackPort: 15432 },
      redis: { loopbackPort: 16379 },
      ...values,
    });

  it("takes native slots with the data stores on loopback ports, and defaults the unit's user and directory", () => {
    const config = parseStackConfig(native());
    assert.equal(config.app.runtime, "systemd");
    assert.deepEqual(config.app.systemd, { user: "switchyard", directory: "/opt/switchyard" });
    assert.equal(config.slots.blue.binary, "bin/api");
    assert.equal(parseStackConfig(minimal()).app.runtime, "container");
  });

  it("names every key a native slot cannot have, and every one it needs, at once", () => {
    assert.deepEqual(
      problemsOf(
        native({
          slots: {
            blue: { image: "registry.example/api:1.0.0", version: "1.0.0" },
            green: { binary: "bin/api", version: "1.0.1" },
          },
          database: {},
          redis: {},
          app: { runtime: "systemd", command: ["api", "serve"], loopbackPorts: { blue: 15432 } },
          workers: { mail: { command: ["mail"] } },
        }),
      ),
      [
        "switchyard:slots.blue.image: a systemd slot runs a native binary: set `binary`",
        "switchyard:database.loopbackPort: required with app.runtime systemd: native slots reach it there",
        "switchyard:redis.loopbackPort: required with app.runtime systemd: native slots reach it there",
        "switchyard:app.command: a systemd slot runs its binary: pass arguments through app.env",
        "switchyard:workers.mail: workers run the active slot's image, and a systemd slot has none",
      ],
    );
    assert.deepEqual(problemsOf(native({ redis: { enabled: false, loopbackPort: 15432 } })), [
      "switchyard:redis.loopbackPort: must differ from database.loopbackPort: both bind on the host",
    ]);
    assert.doesNotThrow(() => parseStackConfig(native({ redis: { enabled: false } })));
    assert.deepEqual(problemsOf(native({ app: { runtime: "systemd", systemd: { user: "root" } } })), [
      "switchyard:app.systemd.user: a dedicated user, not root",
    ]);
  });

  it("refuses a binary and data-store ports beside container slots, and a slot with two sources", () => {
    assert.deepEqual(
      problemsOf(
        minimal({
          slots: {
            blue: { build: "examples/demo-app", binary: "bin/api", version: "1.0.0" },
            green: { binary: "bin/api", version: "1.0.0" },
          },
          database: { loopbackPort: 15432 },
        }),
      ),
      [
        "switchyard:slots.blue.image: set exactly one of `image`, `build` or `binary`",
        "switchyard:slots.green.binary: runs only with app.runtime systemd: set `image` or `build`",
        "switchyard:database.loopbackPort: is for native slots (app.runtime systemd): container slots reach it on the private network",
      ],
    );
  });
});
