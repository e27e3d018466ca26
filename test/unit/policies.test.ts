/**
 * The policy pack against the real program under mocks: the real stack files pass, and every
 * policy has a change that it reports and a near miss that it lets through. A case named
 * "graph edited" changes the registrations the program produced, for what no config can cause.
 */
import { hasRole, roles } from "../../infra/names";
import { letsEncryptDirectories } from "../../infra/stackKeys";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import type { ResourceValidationArgs, StackValidationArgs } from "@pulumi/policy";
import * as pulumi from "@pulumi/pulumi";
import { switchyardPack } from "../../policies/pack";
import { types } from "../../policies/resources";
import { currentStackFacts, enforcementLevelFor, type StackFacts } from "../../policies/stack";
import {
  checkPolicies,
  packSources,
  type PolicyPackProcess,
  type PolicyReport,
  startPolicyPack,
  type Violation,
} from "../support/policy";
import {
  Graph,
  type Registration,
  readStackFile,
  repoRoot,
  reveal,
  runProgram,
  type StackName,
  type StackValues,
  secretFor,
} from "../support/program";

/** The router kind `caddy`, as `pulumi config set --path router.kind caddy` sets it. */
function onCaddy(values: StackValues): void {
  section(values, "router").kind = "caddy";
}

interface Scenario {
  stack: StackName;
  /** A `pulumi config set` before the program runs. */
  mutate?: (values: StackValues) => void;
  /** A change to what the program registered. */
  edit?: (graph: Graph) => void;
}

interface Case extends Scenario {
  name: string;
  /** Violating cases: what the message must say. */
  says?: RegExp;
  /** Near misses: types that must be registered, so the policy had something to judge. */
  needs?: string[];
}

interface Evaluation {
  report: PolicyReport;
  /** Types the program registered. */
  registered: Set<string>;
}

interface ProgramResult {
  registrations: Registration[];
  /** The stack facts the pack would read, taken while this run's config is the runtime's. */
  facts: StackFacts;
}

async function runStack(stack: StackName, mutate?: (values: StackValues) => void): Promise<ProgramResult> {
  const run = await runProgram(stack, { mutate });
  assert.equal(run.error, undefined, `the program must run: ${run.error?.message}`);
  // The pack reads the stack's name and config the way it does under the engine.
  return { registrations: run.registrations, facts: currentStackFacts() };
}

/** Runs of the unchanged stack files, shared by the cases that only edit the graph (each edits a copy). */
const unchangedRuns = new Map<StackName, Promise<ProgramResult>>();

async function programResult(scenario: Scenario): Promise<ProgramResult> {
  if (scenario.mutate) return runStack(scenario.stack, scenario.mutate);
  let unchanged = unchangedRuns.get(scenario.stack);
  if (!unchanged) {
    unchanged = runStack(scenario.stack);
    unchangedRuns.set(scenario.stack, unchanged);
  }
  const { registrations, facts } = await unchanged;
  return { registrations: structuredClone(registrations), facts };
}

async function evaluate(scenario: Scenario): Promise<Evaluation> {
  const { registrations, facts } = await programResult(scenario);
  const graph = new Graph(registrations);
  scenario.edit?.(graph);
  const report = await checkPolicies(switchyardPack(facts), graph.registrations);
  return { report, registered: new Set(graph.registrations.map((r) => r.type)) };
}

// Helpers for config and graph edits.

function section(values: StackValues, key: string): Record<string, unknown> {
  values[key] ??= {};
  return values[key] as Record<string, unknown>;
}

function slot(values: StackValues, colour: "blue" | "green"): Record<string, unknown> {
  return (section(values, "slots") as Record<string, Record<string, unknown>>)[colour];
}

/** An object store beside the app, as Meme Maker runs MinIO: pinned, with its data on a volume. */
function addObjectStore(values: StackValues): void {
  section(values, "accessories").minio = {
    image: `minio/minio@sha256:${"c".repeat(64)}`,
    command: ["server", "/data"],
    volumes: { data: "/data" },
  };
}

/** Sets a property the way a changed program would: the input, and the output the mocks echo. */
function setProperty(registration: Registration, key: string, value: unknown): void {
  registration.inputs[key] = value;
  registration.state[key] = value;
}

function property<T>(registration: Registration, key: string): T {
  return reveal(registration.inputs[key]) as T;
}

function only(graph: Graph, type: string): Registration {
  const found = graph.ofType(type);
  assert.equal(found.length, 1, `expected one ${type}`);
  return found[0];
}

function dropDependencies(registration: Registration, on: (urn: string) => boolean): void {
  registration.dependencies = registration.dependencies.filter((urn) => !on(urn));
  for (const key of Object.keys(registration.propertyDependencies)) {
    registration.propertyDependencies[key] = registration.propertyDependencies[key].filter((urn) => !on(urn));
  }
}

function urnsOf(graph: Graph, type: string): (urn: string) => boolean {
  const urns = new Set(graph.ofType(type).map((r) => r.urn));
  return (urn) => urns.has(urn);
}

const container = types.container;
const githubToken = `ghp_${"Zq7".repeat(12)}`;
const plantedPassword = "hunter2-planted";

/** Per policy: changes it must report, and near misses it must let through. */
const cases: Record<string, { violates: Case[]; passes: Case[] }> = {
  "images-pinned": {
    violates: [
      {
        name: "config: a stage slot on the moving tag latest",
        stack: "stage",
        mutate: (v) => void (slot(v, "blue").image = "ghcr.io/acme/shop-api:latest"),
        says: /app-blue-image: image `ghcr\.io\/acme\/shop-api:latest` uses the moving tag `latest`.*switchyard:slots\.blue\.image/,
      },
      {
        name: "config: stage migrations from an untagged image",
        stack: "stage",
        mutate: (v) => void (section(v, "migrations").image = "ghcr.io/acme/shop-api"),
        says: /migrate-image: .* has no tag.*switchyard:migrations\.image/,
      },
      {
        name: "graph edited: the production router pulls untagged nginx (the config refuses it)",
        stack: "production",
        edit: (g) => setProperty(g.byRole("router-image", types.remoteImage), "name", "nginx"),
        says: /router-image: image `nginx` has no tag/,
      },
      {
        name: "config: a stage accessory on the moving tag latest",
        stack: "stage",
        mutate: (v) => void (section(v, "accessories").minio = { image: "minio/minio:latest" }),
        says: /accessory-minio-image: image `minio\/minio:latest` uses the moving tag `latest`.*switchyard:accessories\.minio\.image/,
      },
    ],
    passes: [
      {
        name: "config: a stage slot on an immutable version tag",
        stack: "stage",
        mutate: (v) => void (slot(v, "blue").image = "ghcr.io/acme/shop-api:2.16.0"),
        needs: [types.remoteImage],
      },
    ],
  },
  "registry-images-only-in-production": {
    violates: [
      {
        name: "graph edited: production builds a slot's image locally (the config refuses it)",
        stack: "production",
        edit: (g) => {
          const image = g.byRole("app-green-image", types.remoteImage);
          image.inputs = {
            name: "switchyard-app-green-image:2.15.0",
            build: { context: "examples/demo-app" },
          };
          image.state = { ...image.inputs };
        },
        says: /app-green-image builds examples\/demo-app.*switchyard:slots\.green\.image/,
      },
    ],
    passes: [
      { name: "config: the dev stack builds both slots locally", stack: "dev", needs: [types.remoteImage] },
    ],
  },
  "snapshot-before-migration": {
    violates: [
      {
        name: "config: production skips snapshots",
        stack: "production",
        mutate: (v) => void (section(v, "snapshots").skip = true),
        says: /migrate-run runs migrations with no snapshot.*snapshots\.skip/,
      },
      {
        name: "graph edited: the migration job no longer waits for the snapshot",
        stack: "production",
        edit: (g) => dropDependencies(g.byRole("migrate-run"), urnsOf(g, types.pgSnapshot)),
        says: /migrate-run runs migrations with no snapshot.*does not wait for the stack's PgSnapshot/,
      },
      {
        name: "graph edited: the snapshot is keyed to another migration set",
        stack: "production",
        edit: (g) => setProperty(only(g, types.pgSnapshot), "migrationSet", "2026-01-01-001"),
        says: /migrate-run waits for a snapshot taken for migration set "2026-01-01-001"/,
      },
    ],
    passes: [
      {
        name: "config: production with a new migration set gets a snapshot for it",
        stack: "production",
        mutate: (v) => void (section(v, "migrations").version = "2026-12-01-050"),
        needs: [types.pgSnapshot],
      },
    ],
  },
  "snapshot-retention": {
    violates: [
      {
        name: "config: stage keeps 3 snapshots",
        stack: "stage",
        mutate: (v) => void (section(v, "snapshots").retention = 3),
        says: /keeps 3 snapshots.*snapshots\.retention to 7/,
      },
    ],
    passes: [
      {
        name: "config: stage keeps exactly 7",
        stack: "stage",
        mutate: (v) => void (section(v, "snapshots").retention = 7),
        needs: [types.pgSnapshot],
      },
    ],
  },
  "slots-after-migrations": {
    violates: [
      {
        name: "graph edited: app-green no longer waits for the migration job",
        stack: "production",
        edit: (g) =>
          dropDependencies(g.byRole("app-green", container), (urn) => urn === g.byRole("migrate-run").urn),
        says: /production-app-green can start before production-migrate-run/,
      },
    ],
    passes: [
      {
        name: "graph edited: app-green waits for the migration job only through its release",
        stack: "production",
        edit: (g) => {
          const job = g.byRole("migrate-run").urn;
          dropDependencies(g.byRole("app-green", container), (urn) => urn === job);
          g.byRole("app-green-release").dependencies.push(job);
        },
        needs: [container],
      },
    ],
  },
  "router-behind-health-gate": {
    violates: [
      {
        name: "graph edited: the switch no longer waits for the active slot's gate",
        stack: "production",
        edit: (g) => dropDependencies(only(g, types.nginxUpstream), urnsOf(g, types.healthGate)),
        says: /sends traffic to the blue slot, but the switch does not wait for that slot's health gate/,
      },
      {
        name: "graph edited: the active slot's gate vouched for an earlier image",
        stack: "production",
        edit: (g) => {
          const gate = g.byRole("app-blue-gate");
          setProperty(gate, "guards", {
            ...property<object>(gate, "guards"),
            image: `sha256:${"0".repeat(64)}`,
          });
        },
        says: /its health gate does not guard the image the slot runs/,
      },
      {
        name: "graph edited: the active slot's gate expects another version",
        stack: "production",
        edit: (g) => setProperty(g.byRole("app-blue-gate"), "expectedVersion", "2.13.0"),
        says: /expects version "2\.13\.0" while the slot runs "2\.14\.0"/,
      },
    ],
    passes: [
      {
        name: "config: production switched to green, behind green's gate",
        stack: "production",
        mutate: (v) => void (v.activeSlot = "green"),
        needs: [types.nginxUpstream, types.healthGate],
      },
      {
        name: "config: a production canary sends traffic to both slots, each behind its gate",
        stack: "production",
        mutate: (v) => void (section(v, "router").canaryWeight = 10),
        needs: [types.nginxUpstream, types.healthGate],
      },
    ],
  },
  "health-gates-not-forced": {
    violates: [
      {
        name: "config: production lets degraded slots through",
        stack: "production",
        mutate: (v) => void (section(v, "health").allowDegraded = true),
        says: /lets a degraded slot .*switchyard:health\.allowDegraded to false/,
      },
      {
        name: "config: production gates without a stable-for window",
        stack: "production",
        mutate: (v) => void (section(v, "health").stableForSeconds = 0),
        says: /passes on a single good answer.*health\.stableForSeconds/,
      },
    ],
    passes: [
      {
        name: "config: stage lets degraded slots through (production-only rule)",
        stack: "stage",
        mutate: (v) => void (section(v, "health").allowDegraded = true),
        needs: [types.healthGate],
      },
      {
        name: "config: production gates with a one-second window",
        stack: "production",
        mutate: (v) => void (section(v, "health").stableForSeconds = 1),
        needs: [types.healthGate],
      },
    ],
  },
  "post-switch-window": {
    violates: [
      {
        name: "config: production holds a switch after 30 s",
        stack: "production",
        mutate: (v) => void (section(v, "health").postSwitchStableForSeconds = 30),
        says: /after 30 s of healthy traffic.*postSwitchStableForSeconds to 60/,
      },
    ],
    passes: [
      {
        name: "config: production holds a switch after exactly 60 s",
        stack: "production",
        mutate: (v) => void (section(v, "health").postSwitchStableForSeconds = 60),
        needs: [types.nginxUpstream],
      },
      {
        name: "config: stage holds a switch after 30 s (production-only rule)",
        stack: "stage",
        mutate: (v) => void (section(v, "health").postSwitchStableForSeconds = 30),
        needs: [types.nginxUpstream],
      },
    ],
  },
  "frontend-after-switch": {
    violates: [
      {
        name: "graph edited: the Netlify deploy no longer waits for the switch",
        stack: "production",
        edit: (g) => dropDependencies(only(g, types.netlifyDeploy), urnsOf(g, types.nginxUpstream)),
        says: /can publish the frontend before the backend it calls is live and stable/,
      },
    ],
    passes: [
      {
        name: "config: production switched to green, the frontend still waits for the switch",
        stack: "production",
        mutate: (v) => void (v.activeSlot = "green"),
        needs: [types.netlifyDeploy, types.nginxUpstream],
      },
    ],
  },
  "data-stores-private": {
    violates: [
      {
        name: "graph edited: postgres publishes 5432 on every address",
        stack: "production",
        edit: (g) =>
          setProperty(g.byRole("postgres", container), "ports", [{ internal: 5432, external: 5432 }]),
        says: /postgres publishes 0\.0\.0\.0:5432->5432 on a public address/,
      },
      {
        name: "graph edited: redis joins the edge network",
        stack: "production",
        edit: (g) => {
          const redis = g.byRole("redis", container);
          const networks = property<object[]>(redis, "networksAdvanced");
          setProperty(redis, "networksAdvanced", [...networks, { name: "switchyard-edge" }]);
        },
        says: /redis joins switchyard-edge, which is not an internal network/,
      },
    ],
    passes: [
      {
        name: "graph edited: postgres publishes 5432 on loopback only, for an SSH tunnel",
        stack: "production",
        edit: (g) =>
          setProperty(g.byRole("postgres", container), "ports", [
            { internal: 5432, external: 15432, ip: "127.0.0.1" },
          ]),
        needs: [container],
      },
    ],
  },
  "database-volume-protected": {
    violates: [
      {
        name: "graph edited: the PostgreSQL volume is not protected",
        stack: "production",
        edit: (g) => void (g.byRole("postgres", types.volume).options.protect = false),
        says: /volume shop-pgdata holds the PostgreSQL data but is not protected/,
      },
      {
        name: "graph edited: postgres keeps its data in the container",
        stack: "production",
        edit: (g) => setProperty(g.byRole("postgres", container), "volumes", []),
        says: /postgres keeps its data inside the container/,
      },
    ],
    passes: [
      {
        name: "graph edited: the PostgreSQL volume protected, the Redis volume not (only the database's must be)",
        stack: "production",
        edit: (g) => {
          g.byRole("postgres", types.volume).options.protect = true;
          g.byRole("redis", types.volume).options.protect = false;
        },
        needs: [types.volume],
      },
    ],
  },
  "accessory-volumes-protected": {
    violates: [
      {
        name: "graph edited: a production accessory's volume is not protected",
        stack: "production",
        mutate: addObjectStore,
        edit: (g) => void (g.byRole("accessory-minio-data", types.volume).options.protect = false),
        says: /volume switchyard-minio\.data holds an accessory's data but is not protected/,
      },
    ],
    passes: [
      {
        name: "config: a production accessory with a volume (kept by switchyard)",
        stack: "production",
        mutate: addObjectStore,
        needs: [types.accessory, types.volume],
      },
    ],
  },
  "only-router-public": {
    violates: [
      {
        name: "graph edited: app-blue publishes its port on every address",
        stack: "production",
        edit: (g) =>
          setProperty(g.byRole("app-blue", container), "ports", [{ internal: 3000, external: 3000 }]),
        says: /app-blue publishes 0\.0\.0\.0:3000->3000 on a public address/,
      },
      {
        name: "graph edited: the router's site also listens on 0.0.0.0:9000",
        stack: "production",
        edit: (g) => {
          const upstream = only(g, types.nginxUpstream);
          const files = property<Record<string, string>>(upstream, "files");
          const site = files["site.conf"].replace(
            /(listen 0\.0\.0\.0:443 [^\n]*\n)/,
            "$1    listen 0.0.0.0:9000;\n",
          );
          assert.notEqual(site, files["site.conf"]);
          setProperty(upstream, "files", { ...files, "site.conf": site });
        },
        says: /the router serves the public on 0\.0\.0\.0:80, 0\.0\.0\.0:443, 0\.0\.0\.0:9000; it serves HTTP and HTTPS only/,
      },
      {
        name: "graph edited: the caddy router's site also listens on 0.0.0.0:9000 and 0.0.0.0:9001",
        stack: "stage",
        mutate: onCaddy,
        edit: (g) => {
          const upstream = only(g, types.caddyUpstream);
          const files = property<Record<string, string>>(upstream, "files");
          const site = files["caddy.json"].replace(
            /"listen": \[\n\s*"0\.0\.0\.0:80"/,
            '"listen": ["0.0.0.0:9000", "0.0.0.0:9001", "0.0.0.0:80"',
          );
          assert.notEqual(site, files["caddy.json"]);
          setProperty(upstream, "files", { ...files, "caddy.json": site });
        },
        says: /the router serves the public on 0\.0\.0\.0:9000, 0\.0\.0\.0:9001, 0\.0\.0\.0:80; it serves HTTP and HTTPS only/,
      },
      {
        name: "graph edited: app-green joins the host's network",
        stack: "production",
        edit: (g) => setProperty(g.byRole("app-green", container), "networkMode", "host"),
        says: /app-green uses the host's network/,
      },
    ],
    passes: [
      {
        name: "config: stage serves HTTP on host port 8080",
        stack: "stage",
        mutate: (v) => void (section(v, "router").httpPort = 8080),
        needs: [container],
      },
    ],
  },
  "container-limits": {
    violates: [
      {
        name: "graph edited: the router without a memory limit",
        stack: "production",
        edit: (g) => setProperty(g.byRole("router", container), "memory", undefined),
        says: /router has no memory limit/,
      },
      {
        name: "graph edited: redis never restarts",
        stack: "production",
        edit: (g) => setProperty(g.byRole("redis", container), "restart", "no"),
        says: /redis has restart policy "no"/,
      },
    ],
    passes: [
      {
        name: "config: stage slots restart on failure, with the smallest memory limit",
        stack: "stage",
        mutate: (v) => {
          const app = section(v, "app");
          app.restartPolicy = "on-failure";
          app.resources = { memoryMb: 32, cpus: 0.5 };
        },
        needs: [container],
      },
    ],
  },
  "app-non-root": {
    violates: [
      {
        name: "config: stage keeps the image's own user",
        stack: "stage",
        mutate: (v) => void (section(v, "app").user = null),
        says: /app-blue runs as whatever user its image declares.*app\.user/,
      },
      {
        name: "config: stage runs the app as uid 0",
        stack: "stage",
        mutate: (v) => void (section(v, "app").user = "0:0"),
        says: /app-blue runs as root \(0:0\)/,
      },
      {
        name: "config: production runs the app as root",
        stack: "production",
        mutate: (v) => void (section(v, "app").user = "root"),
        says: /app-green runs as root \(root\)/,
      },
    ],
    passes: [
      {
        name: "config: stage runs the app as a named user",
        stack: "stage",
        mutate: (v) => void (section(v, "app").user = "node"),
        needs: [container],
      },
      {
        name: "config: stage runs the app as uid 10001",
        stack: "stage",
        mutate: (v) => void (section(v, "app").user = "10001"),
        needs: [container],
      },
    ],
  },
  "router-tls-in-production": {
    violates: [
      {
        name: "config: production without a certificate and key",
        stack: "production",
        mutate: (v) => {
          delete v.tlsCertificate;
          delete v.tlsKey;
        },
        says: /production router lacks trusted TLS: the site has no TLS listener.*router\.tls\.acme.*tlsCertificate and switchyard:tlsKey/,
      },
      {
        name: "config: production on the caddy router, which serves plain HTTP",
        stack: "production",
        mutate: (v) => {
          onCaddy(v);
          delete v.tlsCertificate;
          delete v.tlsKey;
        },
        says: /production router lacks trusted TLS: the site has no TLS listener/,
      },
      {
        name: "config: production's certificates from Let's Encrypt's staging CA",
        stack: "production",
        mutate: (v) => {
          delete v.tlsCertificate;
          delete v.tlsKey;
          section(v, "router").tls = {
            acme: { email: "ops@example.com", directory: letsEncryptDirectories.staging },
          };
        },
        says: /its certificates come from a staging ACME CA \(https:\/\/acme-staging-v02\.api\.letsencrypt\.org\/directory\)/,
      },
      {
        name: "graph edited: the TLS key travels as a plain file",
        stack: "production",
        edit: (g) => {
          const upstream = only(g, types.nginxUpstream);
          const secretFiles = property<Record<string, string>>(upstream, "secretFiles");
          setProperty(upstream, "files", { ...property<object>(upstream, "files"), ...secretFiles });
          setProperty(upstream, "secretFiles", {});
        },
        says: /the private key travels as the plain file privkey\.pem/,
      },
    ],
    passes: [
      {
        name: "config: production's certificates from Let's Encrypt",
        stack: "production",
        mutate: (v) => {
          delete v.tlsCertificate;
          delete v.tlsKey;
          section(v, "router").tls = { acme: { email: "ops@example.com" } };
        },
        needs: [types.nginxUpstream],
      },
      {
        name: "config: production's caddy router, its certificates from Let's Encrypt",
        stack: "production",
        mutate: (v) => {
          onCaddy(v);
          delete v.tlsCertificate;
          delete v.tlsKey;
          section(v, "router").tls = { acme: { email: "ops@example.com" } };
        },
        needs: [types.caddyUpstream],
      },
      {
        name: "config: stage serves plain HTTP (production-only rule)",
        stack: "stage",
        needs: [types.nginxUpstream],
      },
    ],
  },
  "router-security-headers": {
    violates: [
      {
        name: "graph edited: the site sets no security headers",
        stack: "production",
        edit: (g) => {
          const upstream = only(g, types.nginxUpstream);
          const files = property<Record<string, string>>(upstream, "files");
          const site = files["site.conf"].replace(/^\s*add_header .*$/gm, "");
          setProperty(upstream, "files", { ...files, "site.conf": site });
        },
        says: /does not set X-Content-Type-Options, X-Frame-Options, Referrer-Policy, Strict-Transport-Security/,
      },
      {
        name: "graph edited: the caddy router's site sets no security headers",
        stack: "stage",
        mutate: onCaddy,
        edit: (g) => {
          const upstream = only(g, types.caddyUpstream);
          const files = property<Record<string, string>>(upstream, "files");
          const site = files["caddy.json"].replace(/"handler": "headers"/g, '"handler": "vars"');
          assert.notEqual(site, files["caddy.json"]);
          setProperty(upstream, "files", { ...files, "caddy.json": site });
        },
        says: /does not set X-Content-Type-Options, X-Frame-Options, Referrer-Policy, leaving/,
      },
    ],
    passes: [
      {
        name: "config: stage serves plain HTTP, where HSTS does not apply",
        stack: "stage",
        needs: [types.nginxUpstream],
      },
      {
        name: "config: stage on the caddy router",
        stack: "stage",
        mutate: onCaddy,
        needs: [types.caddyUpstream],
      },
    ],
  },
  "secrets-not-in-plain-fields": {
    violates: [
      {
        name: "config: the app's command line carries a database password",
        stack: "stage",
        mutate: (v) =>
          void (section(v, "app").command = [
            "node",
            "server.js",
            "--db",
            `postgres://shop:${plantedPassword}@db/shop`,
          ]),
        says: /app-blue\.command\[3\] holds a URL with a password/,
      },
      {
        name: "config: a GitHub Actions variable holds a token",
        stack: "production",
        mutate: (v) => void (section(section(v, "github"), "variables").RELEASE_BOT = githubToken),
        says: /pipeline-variable-RELEASE_BOT\.value holds a GitHub token/,
      },
    ],
    passes: [
      {
        name: "config: the app's command line carries only a port",
        stack: "stage",
        mutate: (v) => void (section(v, "app").command = ["node", "server.js", "--port", "3000"]),
        needs: [container],
      },
      {
        name: "config: a GitHub Actions variable holds a public URL",
        stack: "production",
        mutate: (v) =>
          void (section(section(v, "github"), "variables").DOCS_URL = "https://docs.example.com/shop"),
        needs: [types.actionsEnvironmentVariable],
      },
    ],
  },
  "secrets-not-in-plain-config": {
    violates: [
      {
        name: "config: a plain app env value is a URL with a password",
        stack: "stage",
        mutate: (v) =>
          void ((section(v, "app").env as Record<string, string>).SENTRY_DSN =
            `https://abc123:${plantedPassword}@o1.ingest.sentry.io/1`),
        says: /switchyard:app\.env\.SENTRY_DSN holds a URL with a password in plain config.*appSecrets/,
      },
    ],
    passes: [
      {
        name: "config: a plain app env value is a URL with a public key only",
        stack: "stage",
        mutate: (v) =>
          void ((section(v, "app").env as Record<string, string>).SENTRY_DSN =
            "https://abc123@o1.ingest.sentry.io/1"),
      },
    ],
  },
  "github-production-environment": {
    violates: [
      {
        name: "graph edited: the production environment requires no reviewer (the config refuses that)",
        stack: "production",
        edit: (g) => setProperty(only(g, types.repositoryEnvironment), "reviewers", []),
        says: /GitHub environment production guards production, but it requires no reviewer/,
      },
      {
        name: "graph edited: production deploys from any release branch",
        stack: "production",
        edit: (g) => setProperty(only(g, types.environmentBranchPolicy), "branchPattern", "release/*"),
        says: /deploys from release\/\* rather than only the default branch main/,
      },
      {
        name: "graph edited: repository admins may bypass the approval",
        stack: "production",
        edit: (g) => setProperty(only(g, types.repositoryEnvironment), "canAdminsBypass", true),
        says: /admins may bypass its approval/,
      },
    ],
    passes: [
      {
        name: "config: production approved by a team alone",
        stack: "production",
        mutate: (v) => void (section(v, "github").reviewers = { teams: ["release-managers"] }),
        needs: [types.repositoryEnvironment],
      },
      {
        name: "config: the stage environment requires no reviewer (not production)",
        stack: "stage",
        needs: [types.repositoryEnvironment],
      },
    ],
  },
  "ssh-host-key-pinned": {
    violates: [
      {
        name: "graph edited: the docker provider's ssh accepts any host key",
        stack: "production",
        edit: (g) => {
          const provider = g.byRole("docker", types.dockerProvider);
          const options = String(property(provider, "sshOpts")).replace(
            "StrictHostKeyChecking=yes",
            "StrictHostKeyChecking=no",
          );
          setProperty(provider, "sshOpts", options);
        },
        says: /docker provider's SSH connection accepts unknown host keys.*target\.hostKey/,
      },
      {
        name: "graph edited: the health gate's executor has no pinned host key",
        stack: "production",
        edit: (g) => {
          const gate = g.byRole("app-blue-gate");
          const { hostKey: _, ...executor } = property<Record<string, unknown>>(gate, "executor");
          setProperty(gate, "executor", executor);
        },
        says: /app-blue-gate connects over SSH without a pinned host key/,
      },
    ],
    passes: [
      {
        name: "config: stage reaches its VPS on another SSH port, still pinned",
        stack: "stage",
        mutate: (v) => void (section(v, "target").host = "ssh://deploy@198.51.100.20:2200"),
        needs: [types.dockerProvider],
      },
      {
        name: "config: the dev stack uses the local Docker socket",
        stack: "dev",
        needs: [types.dockerProvider],
      },
    ],
  },
};

/** Every secret value the scenarios hold: no violation message may quote one. */
function secretValues(stack: StackName): string[] {
  const { secretKeys, values } = readStackFile(stack);
  const appSecrets = Object.keys((values.appSecrets ?? {}) as object).map((name) => `appSecrets.${name}`);
  return [...secretKeys, ...appSecrets]
    .map(
      (key) =>
        secretFor(key)
          .split("\n")
          .find((line) => line.length > 20 && !line.startsWith("-----")) ?? "",
    )
    .filter((value) => value !== "")
    .concat(plantedPassword, githubToken);
}

describe("policy adapter: arguments as the analyzer builds them", () => {
  it("gives resource policies unwrapped inputs and the engine's options, stack policies a linked graph", async () => {
    const { registrations } = await programResult({ stack: "production" });
    const seen: { resource?: ResourceValidationArgs; stack?: StackValidationArgs } = {};
    const report = await checkPolicies(
      {
        enforcementLevel: "mandatory",
        policies: [
          {
            name: "capture-resource",
            description: "records the postgres container's arguments",
            validateResource: (args) => {
              if (args.type === container && hasRole(args.name, roles.database)) seen.resource = args;
            },
          },
          {
            name: "capture-stack",
            description: "records the stack's arguments",
            validateStack: (args) => void (seen.stack = args),
          },
          {
            name: "not-applicable",
            description: "declares itself not applicable",
            validateStack: (args) => args.notApplicable("nothing to check"),
          },
          {
            name: "disabled",
            description: "never runs",
            enforcementLevel: "disabled",
            validateStack: (_args, reportViolation) => reportViolation("ran"),
          },
        ],
      },
      registrations,
    );
    const resource = seen.resource as ResourceValidationArgs;
    // Secrets arrive as plain values: a policy cannot tell them apart.
    assert.ok(
      (resource.props.envs as string[]).some((env) => env.startsWith("POSTGRES_PASSWORD=generated-")),
    );
    assert.deepEqual(Object.keys(resource.opts).sort(), [
      "additionalSecretOutputs",
      "aliases",
      "customTimeouts",
      "deleteBeforeReplace",
      "ignoreChanges",
      "parent",
      "protect",
    ]);
    assert.match(resource.opts.parent ?? "", /switchyard:data:Database::production-postgres$/);
    const stack = seen.stack as StackValidationArgs;
    const job = stack.resources.find((r) => hasRole(r.name, "migrate-run"));
    assert.equal(job?.parent?.type, types.migrationJob);
    // The job waits for the database to be ready: its password set on the kept volume's role.
    const ready = job?.dependencies.find((d) => hasRole(d.name, "postgres-password"));
    assert.ok(ready?.dependencies.some((d) => d.type === container && hasRole(d.name, roles.database)));
    assert.deepEqual(report.notApplicable, [{ policy: "not-applicable", reason: "nothing to check" }]);
    assert.deepEqual(report.violations, []);
  });
});

describe("policy pack: switchyard", () => {
  const pack = switchyardPack({ stack: "production", config: {} });
  const names = pack.policies.map((p) => p.name);

  it("names each policy once and describes it in one line", () => {
    assert.equal(new Set(names).size, names.length);
    for (const policy of pack.policies) {
      assert.match(policy.name, /^[a-z][a-z0-9-]+$/);
      assert.ok(policy.description.length > 20 && !policy.description.includes("\n"), policy.name);
    }
  });

  it("covers every policy with a violating change and a near miss", () => {
    assert.deepEqual(Object.keys(cases).sort(), [...names].sort());
    for (const [name, { violates, passes }] of Object.entries(cases)) {
      assert.ok(violates.length > 0 && passes.length > 0, name);
    }
  });

  it("is mandatory in production and advisory elsewhere", () => {
    assert.equal(
      enforcementLevelFor({ stack: "production", config: { environment: "production" } }),
      "mandatory",
    );
    assert.equal(
      enforcementLevelFor({ stack: "eu-prod", config: { environment: "production" } }),
      "mandatory",
    );
    assert.equal(
      enforcementLevelFor({ stack: "production", config: { environment: "staging" } }),
      "mandatory",
    );
    assert.equal(enforcementLevelFor({ stack: "stage", config: { environment: "staging" } }), "advisory");
    assert.equal(enforcementLevelFor({ stack: "dev", config: {} }), "advisory");
  });

  for (const stack of ["production", "stage"] as const) {
    it(`passes the real Pulumi.${stack}.yaml without a violation`, async () => {
      const { report } = await evaluate({ stack });
      assert.deepEqual(
        report.violations.map((v) => `${v.enforcementLevel} ${v.policy}: ${v.message}`),
        [],
      );
    });
  }

  for (const [policy, { violates, passes }] of Object.entries(cases)) {
    describe(policy, () => {
      for (const c of violates) {
        it(`reports ${c.name}`, async () => {
          const { report } = await evaluate(c);
          const reported = report.violations.filter((v) => v.policy === policy);
          assert.ok(
            reported.length > 0,
            `not reported; all violations: ${JSON.stringify(report.violations, null, 1)}`,
          );
          const level = c.stack === "production" ? "mandatory" : "advisory";
          assert.ok(
            reported.every((v) => v.enforcementLevel === level),
            `expected ${level}`,
          );
          if (c.says)
            assert.ok(
              reported.some((v) => c.says?.test(v.message)),
              reported.map((v) => v.message).join("\n"),
            );
          for (const secret of secretValues(c.stack)) {
            assert.ok(
              report.violations.every((v) => !v.message.includes(secret)),
              "a message quotes a secret",
            );
          }
        });
      }
      for (const c of passes) {
        it(`lets through ${c.name}`, async () => {
          const { report, registered } = await evaluate(c);
          for (const type of c.needs ?? [])
            assert.ok(registered.has(type), `nothing to judge: no ${type} registered`);
          assert.deepEqual(
            report.violations.filter((v) => v.policy === policy).map((v) => v.message),
            [],
          );
        });
      }
    });
  }
});

describe("policy pack: on its own", () => {
  it("imports, through every file it reaches, only node's modules and what policies/package.json declares", () => {
    const packDir = path.join(repoRoot, "policies");
    const manifest = JSON.parse(fs.readFileSync(path.join(packDir, "package.json"), "utf8")) as {
      dependencies: Record<string, string>;
    };
    const declared = Object.keys(manifest.dependencies);
    const { files, packages } = packSources(packDir);
    const undeclared = [...packages]
      .filter(
        ([specifier]) =>
          !specifier.startsWith("node:") &&
          !declared.some((name) => specifier === name || specifier.startsWith(`${name}/`)),
      )
      .map(
        ([specifier, importers]) =>
          `${specifier} (${importers.map((file) => path.relative(repoRoot, file))})`,
      );
    assert.ok(files.length > 5, `followed ${files.length} files`);
    assert.deepEqual(undeclared, []);
  });
});

describe("policy pack: as the Pulumi CLI runs it", function () {
  // The runner compiles the pack with type checks before it listens.
  this.timeout(180_000);
  let pack: PolicyPackProcess;
  let facts: StackFacts;

  before(async () => {
    await runStack("production");
    // What the engine sends the pack in ConfigureStack: the stack's name and config.
    const config = pulumi.runtime.allConfig();
    facts = currentStackFacts();
    pack = await startPolicyPack(path.join(repoRoot, "policies"), {
      name: "production",
      project: "switchyard",
      config,
      programDirectory: path.join(repoRoot, "infra"),
    });
  });

  after(async () => {
    await pack?.stop();
  });

  it("announces every policy, mandatory for the production stack", async () => {
    const announced = await pack.policies();
    assert.deepEqual(
      announced,
      switchyardPack(facts).policies.map((p) => ({ name: p.name, enforcementLevel: "mandatory" })),
    );
  });

  it("reports what the in-process adapter reports, for the real stack and every graph edit of it", async () => {
    const description = new Map(switchyardPack(facts).policies.map((p) => [p.name, p.description]));
    // The analyzer shows a violation as the policy's description, then its message.
    const asShown = (v: Violation) =>
      JSON.stringify({ ...v, message: `${description.get(v.policy)}\n${v.message}` });
    const scenarios = [
      { name: "the real stack", stack: "production" as const },
      ...Object.values(cases).flatMap(({ violates, passes }) =>
        [...violates, ...passes].filter((c) => c.stack === "production" && !c.mutate),
      ),
    ];
    const violating = Object.values(cases).flatMap(({ violates }) =>
      violates.filter((c) => c.stack === "production" && !c.mutate),
    );
    let compared = 0;
    for (const scenario of scenarios) {
      const { registrations } = await programResult(scenario);
      const graph = new Graph(registrations);
      scenario.edit?.(graph);
      const expected = (await checkPolicies(switchyardPack(facts), registrations)).violations.map(asShown);
      const actual = (await pack.analyze(registrations)).map((v) => JSON.stringify(v));
      assert.deepEqual(actual.sort(), expected.sort(), scenario.name);
      compared += actual.length;
    }
    // Every violating edit yields at least one violation, so the comparison cannot pass vacuously.
    assert.ok(
      compared >= violating.length,
      `only ${compared} violations for ${violating.length} violating edits`,
    );
  });
});
