/**
 * The stack configuration: one zod schema that is also its documentation.
 *
 * Every key lives under the `switchyard:` namespace of a Pulumi stack file. `parseStackConfig`
 * is pure (tests and the config reference call it directly); `loadStackConfig` feeds it from
 * the running Pulumi program and fails the update before any resource is registered.
 */
import { utils as sshUtils } from "ssh2";
import { z } from "zod";
import { hostKeyLine, portRange } from "../components/providers/inputs";
import { cpusKept } from "./dockerReadBack";
import { renewDaysBefore } from "../components/providers/acmeClient";
import { unpinnedImageReason } from "./images";
import {
  serviceNamePattern,
  deploymentNameMaxLength,
  deploymentNamePattern,
  reservedAccessoryNames,
  unnamedDeployment,
} from "./names";
import {
  letsEncryptDirectories,
  PROJECT,
  type RawStackConfig,
  type RouterKind,
  routerKinds,
  type SecretKey,
  secretKeys,
  slotColours,
} from "./stackKeys";

export {
  decodeRawConfig,
  PROJECT,
  type RawStackConfig,
  type RouterKind,
  routerKinds,
  type SecretKey,
  secretKeys,
  type SlotColour,
  slotColours,
} from "./stackKeys";

/** Stack secrets the Pipeline may publish to GitHub Actions, with the names the workflows read them by. */
export const actionsSecretNames = {
  pulumiAccessToken: "PULUMI_ACCESS_TOKEN",
  pulumiConfigPassphrase: "PULUMI_CONFIG_PASSPHRASE",
  sshPrivateKey: "VPS_SSH_KEY",
  netlifyToken: "NETLIFY_TOKEN",
} as const satisfies Partial<Record<SecretKey, string>>;
export type PublishedSecret = keyof typeof actionsSecretNames;
const publishedSecretKeys = Object.keys(actionsSecretNames) as [PublishedSecret, ...PublishedSecret[]];

/** Actions variables the Pipeline sets itself. */
export const actionsVariableNames = {
  stack: "PULUMI_STACK",
  vpsHost: "VPS_HOST",
  backendUrl: "PULUMI_BACKEND_URL",
} as const;

/** Env names the program sets itself; a user value would be silently overridden. */
const reservedEnvNames = ["DATABASE_URL", "REDIS_URL", "APP_VERSION", "SLOT", "PORT"];
/** The env name that tells a worker which one it is. */
export const workerEnvName = "WORKER";
/** Plain env values under these names are almost always secrets that belong in `appSecrets`. */
const secretLookingEnvName = /(SECRET|PASSWORD|PASSWD|TOKEN|PRIVATE|API_?KEY|CREDENTIAL)/;

const port = z.int().min(portRange.min).max(portRange.max);
const envName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, "env names are upper-case letters, digits and _");
const dockerName = z
  .string()
  .regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/, "a Docker name: letters, digits, _ . -, at most 63 characters");
const pgIdentifier = z
  .string()
  .regex(/^[a-z_][a-z0-9_]{0,62}$/, "a PostgreSQL identifier: lower-case letters, digits and _");
const imageReference = z
  .string()
  .refine(
    (value) => unpinnedImageReason(value) !== "is not a valid image reference",
    "a Docker image reference",
  );
const version = z
  .string()
  .regex(/^[0-9A-Za-z][0-9A-Za-z._+-]{0,127}$/, "a version such as 1.4.2 or 2026.11.23-abc1234");
const seconds = (max: number) => z.number().positive().max(max);
const absolutePath = z.string().regex(/^\/\S*$/, "an absolute path");
/** A data store's loopback port: native slots run outside Docker and cannot reach its private network. */
const nativeSlotsPort = port.optional();

/** How a slot runs; `components/slots.ts` chooses the component by it. */
export const slotRuntimes = ["container", "systemd"] as const;
export type SlotRuntime = (typeof slotRuntimes)[number];

/** The image each router kind runs unless `router.image` names another. */
export const defaultRouterImages: Record<RouterKind, string> = {
  nginx: "nginx:1.27.3-bookworm",
  caddy: "caddy:2.11.9",
};

/** The ACME client's image unless `router.tls.acme.image` names another: lego, as this project builds and tests it. */
export const defaultAcmeImage = "goacme/lego:v4.9.1";

/** The image of nginx's ACME client: `router.tls.acme.image`, or lego's default. */
export function acmeImage(acme: { image?: string }): string {
  return acme.image ?? defaultAcmeImage;
}

/** The router's image: `router.image`, or its kind's default. */
export function routerImage(router: { kind: RouterKind; image?: string }): string {
  return router.image ?? defaultRouterImages[router.kind];
}

/** Where an image comes from: a registry reference, or a local build for the dev stack. */
const imageSource = {
  image: imageReference
    .optional()
    .describe(
      "Image to run, by digest (`repo@sha256:...`) or immutable tag; production requires one of those",
    ),
  build: z
    .string()
    .min(1)
    .optional()
    .describe(
      "Build the image from this directory instead (relative to the project); not allowed in production",
    ),
};

const slotSpec = z
  .strictObject({
    ...imageSource,
    binary: z
      .string()
      .min(1)
      .optional()
      .describe(
        "With `app.runtime: systemd`, the native binary to run instead of an image (a path relative to the project); uploaded to the target and checked by its sha256",
      ),
    version: version.describe(
      "The version the slot must report on its health endpoint before it gets traffic",
    ),
    rollout: z
      .int()
      .min(0)
      .prefault(0)
      .describe(
        "Bump to redeploy this slot with the current shared `app`/`health` settings without changing its image",
      ),
  })
  .check((ctx) => requireOneSource(ctx.value, ["image", "build", "binary"], ctx.issues));

const resources = z.strictObject({
  memoryMb: z.int().min(32).max(262_144).prefault(512).describe("Hard memory limit in MiB"),
  cpus: z
    .number()
    .min(0.1)
    .max(64)
    .refine(
      cpusKept,
      "Docker would run a different limit: it keeps at most nine decimals, and rounds some to one (0.05, 10.05); use fewer decimals",
    )
    .prefault(1)
    .describe("CPU limit in cores (fractions allowed)"),
});

const restartPolicy = z.enum(["always", "unless-stopped", "on-failure"]).prefault("unless-stopped");

const serviceName = z
  .string()
  .regex(serviceNamePattern, "lower-case letters and digits, starting with a letter, at most 24");
const accessoryName = serviceName.refine(
  (name) => !reservedAccessoryNames.includes(name),
  "is a name switchyard gives its own containers, networks or volumes",
);

/** Docker's healthcheck of a container switchyard waits for (an accessory, a worker). */
const containerHealthcheck = z.strictObject({
  command: z
    .array(z.string())
    .min(1)
    .describe("Command run in the container (no shell); exit 0 means healthy"),
  intervalSeconds: seconds(300).prefault(5).describe("Time between checks"),
  timeoutSeconds: seconds(120).prefault(3).describe("Time one check may take"),
  retries: z.int().min(1).max(1000).prefault(10).describe("Failed checks before it counts as unhealthy"),
  startPeriodSeconds: z.number().min(0).max(3600).prefault(0).describe("Grace period after it starts"),
  deadlineSeconds: seconds(3600)
    .prefault(120)
    .describe("How long `pulumi up` waits for it to turn healthy before the update fails"),
});

const accessorySpec = z.strictObject({
  image: imageReference.describe(
    "Image to run, by digest (`repo@sha256:...`) or immutable tag; production requires one of those",
  ),
  command: z.array(z.string()).min(1).optional().describe("Override the image's command"),
  env: z
    .record(envName, z.string())
    .prefault({})
    .describe("Plain environment; secrets belong in `accessorySecrets.<name>`"),
  network: z
    .enum(["private", "edge"])
    .prefault("private")
    .describe(
      "`private`: the internal network beside the database, with no way out; `edge`: the slots' network, which reaches the internet",
    ),
  ports: z
    .array(
      z.strictObject({
        container: port.describe("Port inside the container"),
        loopback: port.describe("Port on the host's 127.0.0.1 (reach it through an SSH tunnel)"),
      }),
    )
    .max(20)
    .prefault([])
    .describe(
      "Ports published on the host's loopback address only (with `network: edge`: Docker publishes none from an internal network); the slots need none of them",
    ),
  volumes: z
    .record(
      z.string().regex(/^[a-z][a-z0-9-]{0,23}$/, "lower-case letters, digits and -, at most 24"),
      z.string().regex(/^\/\S*$/, "an absolute path in the container"),
    )
    .prefault({})
    .describe(
      "Named volumes, by a short name, and where each is mounted. Docker names them `<deployment>-<accessory>.<name>` (`switchyard-` for an unnamed deployment); outside development they are kept for good, like the database's",
    ),
  user: z
    .string()
    .regex(/^([a-z_][a-z0-9_-]*|\d+)(:([a-z_][a-z0-9_-]*|\d+))?$/, "a user[:group] name or id")
    .optional()
    .describe("User it runs as; unset keeps the image's own user"),
  resources: resources.prefault({ memoryMb: 256 }).describe("Container limits"),
  restart: restartPolicy.describe("Docker restart policy"),
  healthcheck: containerHealthcheck
    .optional()
    .describe(
      "Docker's healthcheck; with one, `pulumi up` waits for the accessory to be healthy before the slots start",
    ),
});

const workerSpec = z.strictObject({
  command: z
    .array(z.string())
    .min(1)
    .describe("What the worker runs, from the active slot's image (e.g. `[node, worker.js]`)"),
  env: z
    .record(envName, z.string())
    .prefault({})
    .describe("Environment on top of the app's (`app.env`, `appSecrets`, DATABASE_URL, REDIS_URL)"),
  resources: resources.prefault({}).describe("Container limits"),
  stableForSeconds: z
    .number()
    .min(0)
    .max(3600)
    .prefault(10)
    .describe("How long it must run without exiting or restarting before the update goes on"),
  healthcheck: containerHealthcheck
    .optional()
    .describe("Docker's healthcheck; with one, the worker must also be healthy before the update goes on"),
});

const githubLogin = z
  .string()
  .regex(/^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$/, "a GitHub user or organization name");
const githubTeamSlug = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,99}$/, "a team slug such as release-managers");
const githubId = z.int().positive();
const branchName = z
  .string()
  .regex(
    /^(?![-/.])(?!.*(?:\.\.|\/\/|@\{|\.lock$|[/.]$))[A-Za-z0-9._/-]{1,255}$/,
    "a branch name such as main",
  );
const publishedSecrets = z
  .array(z.enum(publishedSecretKeys))
  .refine((list) => new Set(list).size === list.length, "lists a secret twice");

const githubSection = z.strictObject({
  owner: githubLogin.describe("The user or organization that owns the repository"),
  repository: z
    .string()
    .regex(/^(?!\.\.?$)[A-Za-z0-9._-]{1,100}$/, "a repository name")
    .describe("The repository whose workflows deploy this stack"),
  defaultBranch: branchName
    .prefault("main")
    .describe("The only branch allowed to deploy to this stack's environment"),
  environment: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/, "an environment name such as production")
    .describe("The GitHub environment this stack's deploy job runs in; this stack manages it"),
  reviewers: z
    .strictObject({
      users: z
        .array(z.union([githubId, githubLogin]))
        .prefault([])
        .describe("Users (login or numeric id) who may approve a deploy"),
      teams: z
        .array(z.union([githubId, githubTeamSlug]))
        .prefault([])
        .describe("Teams of the owning organization (slug or numeric id) who may approve a deploy"),
    })
    .prefault({})
    .describe(
      "Required reviewers: a deploy waits until one of them approves. Production needs one; GitHub allows six",
    ),
  preventSelfReview: z
    .boolean()
    .prefault(false)
    .describe("Whether whoever started a deploy is barred from approving it (a second person must)"),
  secrets: publishedSecrets
    .prefault(["pulumiAccessToken"])
    .describe(
      "Stack secrets published as secrets of this stack's environment: pulumiAccessToken (PULUMI_ACCESS_TOKEN), pulumiConfigPassphrase (PULUMI_CONFIG_PASSPHRASE), sshPrivateKey (VPS_SSH_KEY), netlifyToken (NETLIFY_TOKEN)",
    ),
  repositorySecrets: publishedSecrets
    .prefault([])
    .describe(
      "Stack secrets also published as repository secrets, where pull-request previews read them. A repository secret has one owner: list them in one stack only",
    ),
  backendUrl: z
    .string()
    .regex(/^(s3|gs|azblob|file|https?):\/\/\S+$/, "a Pulumi backend URL such as s3://bucket/prefix")
    .optional()
    .describe("A self-managed Pulumi backend, published as PULUMI_BACKEND_URL; unset means Pulumi Cloud"),
  variables: z
    .record(envName, z.string())
    .prefault({})
    .describe("Further plain Actions variables of this stack's environment"),
});

const frontendSection = z.strictObject({
  siteId: z
    .string()
    .regex(
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
      "a Netlify site id (a UUID: Site configuration, Site details)",
    )
    .describe("The Netlify site this stack publishes"),
  revision: z
    .string()
    .regex(/^[0-9A-Za-z][0-9A-Za-z._/+-]{0,127}$/, "a commit sha or a release tag")
    .optional()
    .describe(
      "The frontend revision this stack publishes (commit sha or tag); changing it re-deploys. Netlify builds the head of the site's production branch",
    ),
  apiUrlVariable: envName
    .prefault("API_URL")
    .describe("Site environment variable that receives this stack's public API URL (the router URL)"),
  env: z
    .record(envName, z.string())
    .prefault({})
    .describe("Further plain environment variables for the site's production builds"),
  clearCache: z.boolean().prefault(false).describe("Build without Netlify's build cache"),
  deadlineSeconds: seconds(7200)
    .prefault(900)
    .describe("How long a deploy may take to reach `ready` before it is cancelled and the update fails"),
  pollIntervalSeconds: seconds(60).prefault(5).describe("Time between deploy status checks"),
});

export const stackConfigSchema = z
  .strictObject({
    environment: z
      .enum(["development", "staging", "production"])
      .prefault("development")
      .describe("What this stack is: production enforces pinned images and stricter checks"),
    deployment: z
      .string()
      .max(deploymentNameMaxLength)
      .regex(deploymentNamePattern, "lower-case letters, digits and single dashes, starting with a letter")
      .refine(
        (name) => name !== unnamedDeployment,
        "is the name of a host's unnamed deployment: choose another",
      )
      .optional()
      .describe(
        "Name of this deployment on its host, put before every container, network and volume name so that several stacks share one host (they need their own ports too). Unset: the names of a host's only deployment (`app-blue`, `router`, `postgres`, `switchyard-private`, ...)",
      ),
    target: z
      .strictObject({
        host: z
          .string()
          .regex(
            /^(unix:\/\/\/\S+|ssh:\/\/[a-z_][a-z0-9_.-]*@[A-Za-z0-9.-]+(:\d{1,5})?)$/,
            "unix:///path/to/docker.sock, or ssh://user@host[:port]",
          )
          .prefault("unix:///var/run/docker.sock")
          .describe("Docker host: the local socket, or ssh://user@host[:port] for a VPS"),
        hostKey: z
          .string()
          .regex(
            hostKeyLine,
            "a public host key line such as `ssh-ed25519 AAAA...` (from `ssh-keyscan -t ed25519 <host>`)",
          )
          .optional()
          .describe("The VPS's SSH host key, pinned: any other key is refused. Required for ssh:// hosts"),
      })
      .prefault({})
      .describe("Where the containers run"),
    activeSlot: z
      .enum(slotColours)
      .prefault("blue")
      .describe("The slot that receives traffic; switching is `pulumi config set activeSlot green`"),
    slots: z
      .strictObject({
        blue: slotSpec.describe("The blue slot: container `app-blue`"),
        green: slotSpec.describe("The green slot: container `app-green`"),
      })
      .describe("The two app slots; the idle one gets the new image, then traffic moves to it"),
    app: z
      .strictObject({
        runtime: z
          .enum(slotRuntimes)
          .prefault("container")
          .describe(
            "How a slot runs: `container` (the slot's image under Docker) or `systemd` (the slot's native binary under a hardened systemd unit on the target)",
          ),
        systemd: z
          .strictObject({
            user: z
              .string()
              .regex(/^[a-z_][a-z0-9_-]{0,31}$/, "a Linux user name")
              .refine((user) => user !== "root", "a dedicated user, not root")
              .prefault("switchyard")
              .describe("The dedicated system user the units run as; created when missing"),
            directory: absolutePath
              .prefault("/opt/switchyard")
              .describe(
                "Where each slot's releases are kept, one directory per version: `<directory>/<unit>/releases/<version>-<sha256 prefix>/`",
              ),
          })
          .prefault({})
          .describe("The `systemd` runtime's settings"),
        port: port.prefault(3000).describe("Port the app listens on inside its container"),
        env: z
          .record(envName, z.string())
          .prefault({})
          .describe("Plain environment for the app; secrets belong in `appSecrets`"),
        resources: resources.prefault({}).describe("Per-slot container limits"),
        user: z
          .string()
          .regex(/^([a-z_][a-z0-9_-]*|\d+)(:([a-z_][a-z0-9_-]*|\d+))?$/, "a user[:group] name or id")
          .nullable()
          .prefault("1000:1000")
          .describe("User the app runs as; null keeps the image's own user"),
        restartPolicy: restartPolicy.describe("Docker restart policy of each slot"),
        command: z.array(z.string()).min(1).optional().describe("Override the image's command"),
        loopbackPorts: z
          .strictObject({
            blue: port.prefault(18081).describe("Loopback port of the blue slot"),
            green: port.prefault(18082).describe("Loopback port of the green slot"),
          })
          .prefault({})
          .describe("Host ports (bound to 127.0.0.1 only) where health gates reach each slot directly"),
      })
      .prefault({})
      .describe("Settings shared by both slots; a slot picks them up when it is next released"),
    appSecrets: z
      .record(envName, z.string().min(1))
      .prefault({})
      .describe(
        "Secret environment for the app (JWT keys, admin keys, API tokens); must be set with --secret",
      ),
    accessorySecrets: z
      .record(z.string(), z.record(envName, z.string().min(1)))
      .prefault({})
      .describe(
        "Secret environment of each accessory, by accessory name (`{minio: {MINIO_ROOT_PASSWORD: ...}}`); must be set with --secret",
      ),
    health: z
      .strictObject({
        path: z
          .string()
          .regex(/^\/\S*$/, "a path starting with /")
          .prefault("/health")
          .describe("Health endpoint"),
        intervalSeconds: seconds(300).prefault(2).describe("Time between health checks"),
        timeoutSeconds: seconds(120).prefault(5).describe("Time one check may take"),
        retries: z
          .int()
          .min(1)
          .max(1000)
          .prefault(30)
          .describe("Failed checks before a slot counts as unhealthy"),
        startPeriodSeconds: z
          .number()
          .min(0)
          .max(3600)
          .prefault(10)
          .describe("Grace period after a slot starts"),
        stableForSeconds: z
          .number()
          .min(0)
          .max(3600)
          .prefault(10)
          .describe("How long a slot must stay healthy, without one failure, before it counts as stable"),
        allowDegraded: z
          .boolean()
          .prefault(false)
          .describe("Whether a degraded (206) slot may receive traffic"),
        successesNeeded: z
          .int()
          .min(1)
          .max(100)
          .prefault(3)
          .describe("Consecutive passing checks before the stable-for window starts"),
        // Kamal gives a container 30 s to turn healthy (deploy_timeout) and Dokku a 10 s wait
        // plus a few retried checks; a gate here also holds the stable window (10 s by
        // default) after 3 passes. 60 s covers a 30 s start and that window, and a slot that is
        // still failing after a minute (a crash-looping dependency, a wrong version) will not
        // heal by waiting longer: the update fails while the user is still watching. Slow
        // starters (JVMs, big migrations at boot) raise it.
        deadlineSeconds: seconds(3600)
          .prefault(60)
          .describe("How long a health gate waits in all before it fails the update"),
        smokeChecks: z
          .array(
            z.strictObject({
              path: z
                .string()
                .regex(/^\/\S*$/, "a path starting with /")
                .describe("Path to request"),
              status: z.int().min(100).max(599).prefault(200).describe("Expected HTTP status"),
            }),
          )
          .max(20)
          .prefault([])
          .describe("Extra requests that must answer as expected before a slot passes its gate"),
        postSwitchStableForSeconds: z
          .number()
          .min(0)
          .max(3600)
          .prefault(30)
          .describe("How long the router must serve the new slot healthily after a switch before it holds"),
      })
      .prefault({})
      .describe("The health contract every slot speaks"),
    database: z
      .strictObject({
        image: imageReference.prefault("postgres:16.4-bookworm").describe("PostgreSQL image"),
        name: pgIdentifier.prefault("app").describe("Database name"),
        user: pgIdentifier.prefault("app").describe("Database owner role"),
        volume: dockerName
          .optional()
          .describe(
            "Named volume holding the data directory. Default: `switchyard-pgdata`, or `<deployment>-pgdata` in a named deployment",
          ),
        resources: resources.prefault({ memoryMb: 1024 }).describe("Container limits"),
        loopbackPort: nativeSlotsPort.describe(
          "Port on the host's 127.0.0.1 where native slots reach PostgreSQL: required with `app.runtime: systemd`, and only allowed then",
        ),
      })
      .prefault({})
      .describe("PostgreSQL, on the private network only"),
    redis: z
      .strictObject({
        enabled: z.boolean().prefault(true).describe("Run Redis and give the app REDIS_URL"),
        image: imageReference.prefault("redis:7.4.1-bookworm").describe("Redis image"),
        volume: dockerName
          .nullable()
          .optional()
          .describe(
            "Named volume for /data; null for none. Default: `switchyard-redisdata`, or `<deployment>-redisdata` in a named deployment",
          ),
        resources: resources.prefault({ memoryMb: 256 }).describe("Container limits"),
        loopbackPort: nativeSlotsPort.describe(
          "Port on the host's 127.0.0.1 where native slots reach Redis: required with `app.runtime: systemd`, and only allowed then",
        ),
      })
      .prefault({})
      .describe("Redis, on the private network only"),
    accessories: z
      .record(accessoryName, accessorySpec)
      .prefault({})
      .describe(
        "Long-running services beside the app (object storage, metrics, a search engine), by name. Each runs in container `<name>` (`<deployment>-<name>` in a named deployment) and the slots reach it as `<name>`; a release never restarts one",
      ),
    workers: z
      .record(serviceName, workerSpec)
      .prefault({})
      .describe(
        "Processes without HTTP that release with the app (queue consumers), by name: each runs the active slot's image and environment in container `<name>-worker`, and only the active slot's run, so two versions never consume one queue. A switch stops the old worker, then starts and gates the new one, once traffic has moved and held",
      ),
    migrations: z
      .strictObject({
        ...imageSource,
        command: z
          .array(z.string())
          .min(1)
          .prefault(["node", "migrate.js"])
          .describe("Command that applies them"),
        version: version.describe("Identifies the migration set: change it whenever migrations change"),
        validations: z
          .array(
            z.strictObject({
              name: z
                .string()
                .regex(/^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$/, "letters, digits, spaces and . _ -")
                .describe("Names the check in messages"),
              query: z
                .string()
                .regex(/\S/, "an SQL query")
                .describe("SQL giving one value (the first column of the first row)"),
              expect: z
                .string()
                .min(1)
                .describe(
                  "`unchanged`: the value the query gave before the migration (read with its snapshot); anything else: the exact value it must give after",
                ),
            }),
          )
          .prefault([])
          .describe(
            "Checks run after the migration; one that fails fails the update after the migration ran, and traffic stays where it is (README: Restoring the database)",
          ),
      })
      .check((ctx) => requireOneSource(ctx.value, ["image", "build"], ctx.issues))
      .optional()
      .describe("The migration job, run once per migration set before the slots change"),
    router: z
      .strictObject({
        kind: z
          .enum(routerKinds)
          .prefault("nginx")
          .describe(
            "What serves the router: nginx, or Caddy (its certificates from router.tls.acme only, and no canaryKey: it splits requests one by one)",
          ),
        image: imageReference.optional().describe(
          `The router's image; unset, ${Object.entries(defaultRouterImages)
            .map(([kind, image]) => `\`${image}\` for ${kind}`)
            .join(", ")}`,
        ),
        bindAddress: z.ipv4().prefault("0.0.0.0").describe("Address the public ports bind to"),
        httpPort: port.prefault(80).describe("Public HTTP port"),
        httpsPort: port
          .prefault(443)
          .describe("Public HTTPS port, used with router.tls.acme or tlsCertificate and tlsKey"),
        checkPort: port
          .prefault(18080)
          .describe("Port on 127.0.0.1 of the router's check listener, which the post-switch check reads"),
        serverName: z
          .string()
          .regex(
            /^(_|[A-Za-z0-9*][A-Za-z0-9.-]*)( [A-Za-z0-9*][A-Za-z0-9.-]*)*$/,
            "host names separated by spaces, or _",
          )
          .prefault("_")
          .describe(
            "The site's host names, separated by spaces (nginx's server_name; `_`: any); the first is in the router's URL",
          ),
        canaryWeight: z
          .int()
          .min(0)
          .max(100)
          .prefault(0)
          .describe("Percent of requests sent to the idle slot (0 = none)"),
        canaryKey: z
          .string()
          .regex(/^(cookie:[A-Za-z0-9_]+|header:[A-Za-z0-9-]+)$/, "cookie:<name> or header:<Name>")
          .optional()
          .describe(
            "Cookie or header whose value keeps a user on one side of the canary, e.g. cookie:account_id; requests without it, and every request when unset, are split one by one",
          ),
        canaryAllowlist: z
          .array(z.string().regex(/^[A-Za-z0-9._:@-]{1,128}$/, "letters, digits and . _ : @ -, at most 128"))
          .max(1000)
          .prefault([])
          .describe("Values of canaryKey that always get the canary while canaryWeight is above 0"),
        tls: z
          .strictObject({
            acme: z
              .strictObject({
                email: z.email().describe("Contact address the CA writes to about expiring certificates"),
                directory: z
                  .url({ protocol: /^https$/ })
                  .prefault(letsEncryptDirectories.production)
                  .describe(
                    `The CA's ACME directory: Let's Encrypt's by default; its staging one, \`${letsEncryptDirectories.staging}\`, for trying a stack out (its certificates are not trusted by browsers)`,
                  ),
                directoryCertificate: z
                  .string()
                  .refine((value) => value.includes("-----BEGIN CERTIFICATE-----"), "a PEM certificate")
                  .optional()
                  .describe(
                    "PEM of the CA certificate the directory's own HTTPS is verified with, for a private ACME CA (step-ca, Pebble); unset: the system's",
                  ),
                checkIntervalSeconds: z
                  .int()
                  .min(10)
                  .max(86_400)
                  .prefault(43_200)
                  .describe(
                    `How often the ACME client checks the certificate; it renews once fewer than ${renewDaysBefore} days remain, and retries a failure after a minute, doubling up to this`,
                  ),
                image: imageReference
                  .optional()
                  .describe(
                    `The image of nginx's ACME client, lego; unset, \`${defaultAcmeImage}\`. Caddy is its own client`,
                  ),
              })
              .optional()
              .describe(
                "Certificates from an ACME CA for serverName's names, obtained over HTTP-01 on httpPort during `pulumi up` and renewed on the target: by an ACME client beside nginx (`<router>-acme`, lego), by Caddy itself; instead of tlsCertificate and tlsKey",
              ),
          })
          .prefault({})
          .describe(
            "Where the router's certificate comes from: `acme`, or the tlsCertificate and tlsKey secrets",
          ),
        maintenance: z
          .strictObject({
            enabled: z
              .boolean()
              .prefault(false)
              .describe(
                "Answer every public request with 503 and the page (the check listener still reaches the slots)",
              ),
            message: z
              .string()
              .min(1)
              .max(1000)
              .prefault("We are down for maintenance and will be back shortly.")
              .describe("The page's text"),
            retryAfterSeconds: z.int().min(1).max(86_400).prefault(30).describe("The 503's Retry-After"),
          })
          .prefault({})
          .describe(
            "A maintenance page, switched on and off without a reload: set here, or by `npm run snapshot -- restore` around its swap",
          ),
      })
      .prefault({})
      .describe("The router in front of the slots"),
    snapshots: z
      .strictObject({
        directory: absolutePath
          .prefault("/var/backups/switchyard")
          .describe("Directory on the target that holds database snapshots"),
        retention: z.int().min(1).max(1000).prefault(7).describe("How many snapshots to keep"),
        skip: z.boolean().prefault(false).describe("Emergency only: migrate without a snapshot"),
      })
      .prefault({})
      .describe("Database snapshots taken before migrations"),
    github: githubSection
      .optional()
      .describe(
        "GitHub as code: this stack's deploy environment, its reviewers, Actions secrets and variables",
      ),
    frontend: frontendSection
      .optional()
      .describe("The Netlify site deployed once the backend it calls is live and stable"),
    sshPrivateKey: z
      .string()
      .refine(
        (value) => !(sshUtils.parseKey(value) instanceof Error),
        "a private key the SSH client can read, without a passphrase: the whole file as ssh-keygen " +
          "writes it (OpenSSH format; PKCS#8 `BEGIN PRIVATE KEY` files are not supported)",
      )
      .optional()
      .describe("The deploy user's private key for ssh:// targets (the whole file)"),
    tlsCertificate: z
      .string()
      .refine((value) => value.includes("-----BEGIN CERTIFICATE-----"), "a PEM certificate chain")
      .optional()
      .describe("The router's TLS certificate chain (PEM)"),
    tlsKey: z
      .string()
      .refine((value) => /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(value), "a PEM private key")
      .optional()
      .describe("The router's TLS private key (PEM)"),
    githubToken: z
      .string()
      .regex(/^\S{20,}$/, "a GitHub token")
      .optional()
      .describe(
        "Token the Pipeline manages the repository with (fine-grained: Administration, Environments, Secrets and Variables write; organization Members read for team reviewers)",
      ),
    netlifyToken: z
      .string()
      .regex(/^\S{20,}$/, "a Netlify personal access token")
      .optional()
      .describe("Netlify personal access token that sets the site's variables and starts its builds"),
    pulumiAccessToken: z
      .string()
      .regex(/^\S{20,}$/, "a Pulumi access token")
      .optional()
      .describe("Pulumi Cloud access token the workflows log in with (published to GitHub, never used here)"),
    pulumiConfigPassphrase: z
      .string()
      .min(1)
      .optional()
      .describe("Passphrase of a self-managed backend's secrets, published for the workflows"),
  })
  .check((ctx) => crossKeyRules(ctx.value, ctx.issues));

export type ParsedStackConfig = z.output<typeof stackConfigSchema>;

interface IssueSink {
  push(issue: {
    code: "custom";
    message: string;
    path: PropertyKey[];
    input: unknown;
    continue?: boolean;
  }): void;
}

function requireOneSource<Key extends string>(
  value: Partial<Record<Key, string>>,
  keys: readonly Key[],
  issues: IssueSink,
): void {
  if (keys.filter((key) => value[key] !== undefined).length !== 1) {
    const named = keys.map((key) => `\`${key}\``);
    issues.push({
      // Stryker disable next-line StringLiteral: zod passes the code through and describeIssue never reads "custom"
      code: "custom",
      message: `set exactly one of ${named.slice(0, -1).join(", ")} or ${named[named.length - 1]}`,
      path: ["image"],
      input: value,
      // The value is still well-formed, so the cross-key rules run too: every problem at once.
      continue: true,
    });
  }
}

function crossKeyRules(config: ParsedStackConfig, issues: IssueSink): void {
  const fail = (path: PropertyKey[], message: string) =>
    // Stryker disable next-line StringLiteral: a custom issue's code is never read (see requireOneSource)
    issues.push({ code: "custom", message, path, input: config });

  const validations = config.migrations?.validations ?? [];
  validations.forEach((validation, index) => {
    const path = ["migrations", "validations", index];
    if (validations.slice(0, index).some((earlier) => earlier.name === validation.name))
      fail([...path, "name"], "is used by an earlier validation: names must differ");
    if (validation.expect === "unchanged" && config.snapshots.skip)
      fail(
        [...path, "expect"],
        "unchanged compares with the value read with the snapshot, which snapshots.skip turns off",
      );
  });

  if (config.target.host.startsWith("ssh://")) {
    if (!config.target.hostKey)
      fail(["target", "hostKey"], "required for ssh:// hosts, so the host key is pinned");
    if (!config.sshPrivateKey) fail(["sshPrivateKey"], "required for ssh:// hosts (set it with --secret)");
  } else if (config.target.hostKey) {
    fail(["target", "hostKey"], "only applies to ssh:// hosts");
  }

  if ((config.tlsCertificate === undefined) !== (config.tlsKey === undefined)) {
    fail([config.tlsKey ? "tlsCertificate" : "tlsKey"], "TLS needs both tlsCertificate and tlsKey");
  }
  if (config.router.tls.acme !== undefined) {
    if (config.tlsCertificate !== undefined || config.tlsKey !== undefined)
      fail(
        ["router", "tls", "acme"],
        "the certificate comes from ACME or from tlsCertificate and tlsKey: unset one",
      );
    if (config.router.serverName.split(" ").some((name) => name === "_" || name.includes("*")))
      fail(
        ["router", "serverName"],
        "router.tls.acme needs the site's host names: not _, and no wildcard, which HTTP-01 cannot prove",
      );
  }

  for (const [name] of Object.entries(config.app.env)) {
    if (reservedEnvNames.includes(name)) fail(["app", "env", name], "is set by switchyard itself");
    else if (secretLookingEnvName.test(name))
      fail(["app", "env", name], "looks like a secret: put it in appSecrets");
  }
  for (const name of Object.keys(config.appSecrets)) {
    if (reservedEnvNames.includes(name)) fail(["appSecrets", name], "is set by switchyard itself");
    if (name in config.app.env) fail(["appSecrets", name], "is also in app.env: keep one");
  }

  accessoryRules(config, fail);
  runtimeRules(config, fail);

  // The router runs in the host's network (components/Router.ts): all of these bind there.
  const hostPorts: [string[], number][] = [
    [["router", "httpPort"], config.router.httpPort],
    [["router", "httpsPort"], config.router.httpsPort],
    [["router", "checkPort"], config.router.checkPort],
    [["app", "loopbackPorts", "blue"], config.app.loopbackPorts.blue],
    [["app", "loopbackPorts", "green"], config.app.loopbackPorts.green],
    ...dataStorePorts(config),
    ...Object.entries(config.accessories).flatMap(([name, accessory]) =>
      accessory.ports.map((published, index): [string[], number] => [
        ["accessories", name, "ports", String(index), "loopback"],
        published.loopback,
      ]),
    ),
  ];
  hostPorts.forEach(([key, port], index) => {
    const taken = hostPorts.slice(0, index).find(([, earlier]) => earlier === port);
    if (taken) fail(key, `must differ from ${taken[0].join(".")}: both bind on the host`);
  });

  if (config.router.canaryAllowlist.length > 0 && config.router.canaryKey === undefined)
    fail(["router", "canaryAllowlist"], "needs router.canaryKey: the allowlist holds values of that key");
  routerKindRules(config, fail);

  deliveryRules(config, fail);

  if (config.environment === "production") {
    for (const [path, source] of imageSources(config)) {
      if (source.build !== undefined)
        fail([...path, "build"], "production runs registry images only: set `image`");
      const reason = source.image === undefined ? undefined : unpinnedImageReason(source.image);
      if (reason)
        fail([...path, "image"], `${reason}; production needs a digest or an immutable version tag`);
    }
  }
}

/** What each router kind cannot do. */
function routerKindRules(
  config: ParsedStackConfig,
  fail: (path: PropertyKey[], message: string) => void,
): void {
  switch (config.router.kind) {
    case "nginx":
      return;
    case "caddy":
      if (config.router.canaryKey !== undefined)
        fail(
          ["router", "canaryKey"],
          "needs router.kind nginx: Caddy has no hash of a cookie or header to keep a user on one side",
        );
      if (config.tlsCertificate !== undefined)
        fail(
          ["tlsCertificate"],
          "needs router.kind nginx: the caddy router gets its certificates itself (router.tls.acme)",
        );
      if (config.router.tls.acme?.image !== undefined)
        fail(
          ["router", "tls", "acme", "image"],
          "needs router.kind nginx: Caddy is its own ACME client, and runs no other beside it",
        );
      return;
  }
}

/** What each slot runtime needs of the other keys, and refuses. */
function runtimeRules(config: ParsedStackConfig, fail: (path: PropertyKey[], message: string) => void): void {
  const stores = [
    { key: "database", port: config.database.loopbackPort, used: true },
    { key: "redis", port: config.redis.loopbackPort, used: config.redis.enabled },
  ];
  switch (config.app.runtime) {
    case "container":
      for (const colour of slotColours) {
        const slot = config.slots[colour];
        // A slot with two sources already has its problem.
        if (slot.binary !== undefined && slot.image === undefined && slot.build === undefined)
          fail(["slots", colour, "binary"], "runs only with app.runtime systemd: set `image` or `build`");
      }
      for (const store of stores)
        if (store.port !== undefined)
          fail(
            [store.key, "loopbackPort"],
            "is for native slots (app.runtime systemd): container slots reach it on the private network",
          );
      return;
    case "systemd":
      for (const colour of slotColours)
        for (const key of ["image", "build"] as const)
          if (config.slots[colour][key] !== undefined && config.slots[colour].binary === undefined)
            fail(["slots", colour, key], "a systemd slot runs a native binary: set `binary`");
      for (const store of stores)
        if (store.used && store.port === undefined)
          fail([store.key, "loopbackPort"], "required with app.runtime systemd: native slots reach it there");
      if (config.app.command !== undefined)
        fail(["app", "command"], "a systemd slot runs its binary: pass arguments through app.env");
      for (const name of Object.keys(config.workers))
        fail(["workers", name], "workers run the active slot's image, and a systemd slot has none");
      return;
  }
}

/** The loopback ports the data stores publish for native slots. */
function dataStorePorts(config: ParsedStackConfig): [string[], number][] {
  const ports: [string[], number][] = [];
  if (config.database.loopbackPort !== undefined)
    ports.push([["database", "loopbackPort"], config.database.loopbackPort]);
  if (config.redis.loopbackPort !== undefined)
    ports.push([["redis", "loopbackPort"], config.redis.loopbackPort]);
  return ports;
}

/** Accessories' and workers' environment: which names are switchyard's, and which belong in secrets. */
function accessoryRules(
  config: ParsedStackConfig,
  fail: (path: PropertyKey[], message: string) => void,
): void {
  for (const [name, accessory] of Object.entries(config.accessories)) {
    if (accessory.ports.length > 0 && accessory.network === "private")
      fail(
        ["accessories", name, "ports"],
        "Docker publishes no port of a container on an internal network: set network to edge, or reach it from the app",
      );
    for (const key of Object.keys(accessory.env))
      if (secretLookingEnvName.test(key))
        fail(["accessories", name, "env", key], `looks like a secret: put it in accessorySecrets.${name}`);
  }
  for (const [name, worker] of Object.entries(config.workers)) {
    for (const key of Object.keys(worker.env)) {
      if (reservedEnvNames.includes(key) || key === workerEnvName)
        fail(["workers", name, "env", key], "is set by switchyard itself");
      else if (secretLookingEnvName.test(key))
        fail(
          ["workers", name, "env", key],
          "looks like a secret: put it in appSecrets, which workers get too",
        );
    }
  }
  for (const [name, secrets] of Object.entries(config.accessorySecrets)) {
    const accessory = config.accessories[name];
    if (accessory === undefined) fail(["accessorySecrets", name], "is not an accessory (see accessories)");
    for (const key of Object.keys(secrets))
      if (accessory !== undefined && key in accessory.env)
        fail(["accessorySecrets", name, key], `is also in accessories.${name}.env: keep one`);
  }
}

/** Rules of the `github` and `frontend` sections. */
function deliveryRules(
  config: ParsedStackConfig,
  fail: (path: PropertyKey[], message: string) => void,
): void {
  const { github, frontend } = config;
  if (github) {
    if (config.githubToken === undefined)
      fail(["githubToken"], "required with the github section (set it with --secret)");
    for (const list of ["secrets", "repositorySecrets"] as const) {
      github[list].forEach((key) => {
        // Reported on the secret itself: that is the key to set.
        if (config[key] === undefined)
          fail([key], `published by github.${list} but not set (set it with --secret)`);
      });
    }
    const listsAccessToken = [...github.secrets, ...github.repositorySecrets].includes("pulumiAccessToken");
    if (github.backendUrl === undefined && !github.secrets.includes("pulumiAccessToken"))
      fail(
        ["github", "secrets"],
        "must list pulumiAccessToken unless github.backendUrl is set: the workflows log in to Pulumi with one of them",
      );
    if (github.backendUrl !== undefined && listsAccessToken)
      fail(
        ["github", "backendUrl"],
        "a self-managed backend takes no Pulumi access token: unlist pulumiAccessToken",
      );
    const reviewers = github.reviewers.users.length + github.reviewers.teams.length;
    if (config.environment === "production" && reviewers === 0)
      fail(["github", "reviewers"], "production deploys need at least one required reviewer");
    if (reviewers > 6)
      fail(["github", "reviewers"], "GitHub allows at most six reviewers, users and teams together");
    const setBySwitchyard: string[] = [
      ...Object.values(actionsVariableNames),
      ...Object.values(actionsSecretNames),
    ];
    for (const name of Object.keys(github.variables)) {
      if (setBySwitchyard.includes(name)) fail(["github", "variables", name], "is set by switchyard itself");
      else if (name.startsWith("GITHUB_"))
        fail(["github", "variables", name], "GitHub reserves the GITHUB_ prefix");
      else if (secretLookingEnvName.test(name))
        fail(["github", "variables", name], "looks like a secret: Actions variables are shown in plain text");
    }
  }
  if (frontend) {
    if (config.netlifyToken === undefined)
      fail(["netlifyToken"], "required with the frontend section (set it with --secret)");
    for (const name of Object.keys(frontend.env)) {
      if (name === frontend.apiUrlVariable)
        fail(["frontend", "env", name], "is set from the router URL (frontend.apiUrlVariable)");
      else if (secretLookingEnvName.test(name))
        fail(["frontend", "env", name], "looks like a secret: these site variables are not secret");
    }
  }
}

/** Every place an image is configured, with its key path. */
function imageSources(config: ParsedStackConfig): [string[], { image?: string; build?: string }][] {
  const sources: [string[], { image?: string; build?: string }][] = [
    [["slots", "blue"], config.slots.blue],
    [["slots", "green"], config.slots.green],
    [["database"], config.database],
    [["router"], config.router],
  ];
  const { acme } = config.router.tls;
  if (acme !== undefined && config.router.kind === "nginx")
    sources.push([["router", "tls", "acme"], { image: acmeImage(acme) }]);
  if (config.redis.enabled) sources.push([["redis"], config.redis]);
  for (const [name, accessory] of Object.entries(config.accessories))
    sources.push([["accessories", name], accessory]);
  if (config.migrations) sources.push([["migrations"], config.migrations]);
  return sources;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid stack configuration:\n  - ${problems.join("\n  - ")}`);
    this.name = "ConfigError";
  }
}

/**
 * Validates a stack's config. Throws a `ConfigError` listing every problem, each naming its
 * key path (`switchyard:slots.blue.image: ...`); no message repeats a value, so secrets given
 * in the wrong place are never echoed.
 */
export function parseStackConfig(raw: RawStackConfig): ParsedStackConfig {
  const problems: string[] = (raw.misspelled ?? []).map(
    (fullKey) =>
      `${fullKey}: not a ${PROJECT} key; did you mean ${PROJECT}:${fullKey.slice(fullKey.indexOf(":") + 1)}?`,
  );
  for (const key of Object.keys(raw.values)) {
    const isSecretKey = (secretKeys as readonly string[]).includes(key);
    if (isSecretKey && !raw.secret.has(key)) {
      problems.push(
        `${PROJECT}:${key}: holds a secret but is in plain text; run \`pulumi config set --secret ${key}\``,
      );
    } else if (!isSecretKey && raw.secret.has(key) && key in stackConfigSchema.shape) {
      problems.push(
        `${PROJECT}:${key}: is marked secret, but only ${secretKeys.join(", ")} are kept secret; move the secret there`,
      );
    }
  }
  // Stryker disable next-line ObjectLiteral,BooleanLiteral: keeps values out of issues; no message shows one, so unobservable
  const result = stackConfigSchema.safeParse(raw.values, { reportInput: false });
  if (!result.success) problems.push(...result.error.issues.map(describeIssue));
  if (problems.length > 0) throw new ConfigError(problems);
  return result.data as ParsedStackConfig;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const path = issue.path.map(String).join(".");
  if (issue.code === "unrecognized_keys") {
    const where = path ? `${path}.` : "";
    return issue.keys.map((key) => `${PROJECT}:${where}${key}: unknown key`).join("; ");
  }
  if (issue.code === "invalid_value") {
    return `${PROJECT}:${path}: expected one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
  }
  // A record key's own issues say what is wrong with it; zod's summary does not.
  if (issue.code === "invalid_key")
    return `${PROJECT}:${path}: ${issue.issues.map((i) => i.message).join("; ")}`;
  // Stryker disable next-line ConditionalExpression: only invalid_type messages end so; the code test is a guard for later ones
  if (issue.code === "invalid_type" && issue.message.endsWith("received undefined"))
    return `${PROJECT}:${path}: required`;
  return `${PROJECT}:${path}: ${issue.message}`;
}
