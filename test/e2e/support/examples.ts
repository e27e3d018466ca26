/**
 * An example stack (`examples/stacks/<system>/Pulumi.<stack>.yaml`) on this machine's engine: its
 * own settings, with the demo app standing in for the team's app (the images pinned by digest
 * from the local registry), and what this machine cannot reach or keep left out (its ACME CA
 * among them: test/e2e/acme.test.ts gets certificates from a local one).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { run } from "../../support/process";
import { repoRoot } from "../../support/program";
import type { ImageName } from "../../../engine/images";
import { type OwnPorts, pinnedImage, projectFiles, removeLeftovers, TestStack } from "./engine";

/**
 * Keys an example sets that reach what this machine cannot (its VPS, GitHub, Netlify), or that
 * hold its secrets (`secure:` placeholders).
 */
const leftOut = [
  "target",
  "sshPrivateKey",
  "tlsCertificate",
  "tlsKey",
  "github",
  "githubToken",
  "pulumiAccessToken",
  "frontend",
  "netlifyToken",
  "appSecrets",
  "accessorySecrets",
];

/**
 * The images this machine builds for the official ones an example's accessories name, by
 * repository: the same interface (command line, ports, healthcheck tools), nothing pulled.
 */
const accessoryStandIns: Record<string, ImageName> = {
  "quay.io/minio/minio": "s3",
  "prom/prometheus": "prometheus",
};

/** The example's accessories, each on this machine's stand-in for its image. */
function standInAccessories(accessories: Record<string, { image: string }> = {}): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(accessories).map(([name, accessory]) => {
      const repository = accessory.image.replace(/[@:][^/]*$/, "");
      const standIn = accessoryStandIns[repository];
      if (standIn === undefined) throw new Error(`accessories.${name}: no stand-in here for ${repository}`);
      return [name, { ...accessory, image: pinnedImage(standIn) }];
    }),
  );
}

/** The example's router without `tls.acme`: no ACME CA a production stack names is reachable here. */
function routerWithoutAcme(router: Record<string, unknown>): Record<string, unknown> {
  const { tls: _reachesACa, ...rest } = router;
  return rest;
}

/** The example's versions of its slots, which the demo app then reports. */
export interface ExampleSlots {
  blue: string;
  green: string;
}

/**
 * The example's stack file as `name`, with `overrides` (keys without `switchyard:`; an object
 * merged into the key's object) over what this function sets: the demo app in both slots at the example's versions, its
 * migrations, local images for the data stores, the accessories and the router, `ports`, a snapshot directory
 * under the stack's own, and short stable windows.
 */
export async function newExampleStack(
  system: string,
  stackFile: string,
  name: string,
  ports: OwnPorts,
  overrides: Record<string, unknown> = {},
): Promise<{ stack: TestStack; slots: ExampleSlots }> {
  const file = parseYaml(
    fs.readFileSync(path.join(repoRoot, "examples/stacks", system, stackFile), "utf8"),
  ) as { config: Record<string, unknown> };
  const config = Object.fromEntries(
    Object.entries(file.config)
      .map(([key, value]): [string, unknown] => [key.replace(/^switchyard:/, ""), value])
      .filter(([key]) => !leftOut.includes(key)),
  ) as Record<string, Record<string, unknown>>;
  const demoApp = pinnedImage("demo-app");
  const slots = {
    blue: String((config.slots.blue as { version: string }).version),
    green: String((config.slots.green as { version: string }).version),
  };
  const stack = new TestStack({ project: projectFiles, stack: name });
  const own: Record<string, unknown> = {
    slots: {
      blue: { image: demoApp, version: slots.blue },
      green: { image: demoApp, version: slots.green },
    },
    app: { ...config.app, loopbackPorts: ports.loopbackPorts },
    health: { ...config.health, stableForSeconds: 2, postSwitchStableForSeconds: 3, deadlineSeconds: 60 },
    database: { ...config.database, image: pinnedImage("postgres") },
    redis: { ...config.redis, image: pinnedImage("redis") },
    router: {
      ...routerWithoutAcme(config.router),
      image: pinnedImage(config.router.kind === "caddy" ? "caddy" : "nginx"),
      httpPort: ports.httpPort,
      checkPort: ports.checkPort,
    },
    snapshots: { ...config.snapshots, directory: stack.snapshotDirectory },
    accessories: standInAccessories(config.accessories as Record<string, { image: string }> | undefined),
    ...(config.migrations || overrides.migrations
      ? { migrations: { ...config.migrations, image: demoApp, command: ["node", "migrate.js"] } }
      : {}),
  };
  const values = merged({ ...config, ...own }, overrides);
  await removeLeftovers(values.deployment as string | undefined);
  fs.mkdirSync(stack.snapshotDirectory, { recursive: true });
  fs.writeFileSync(
    path.join(stack.programDir, `Pulumi.${name}.yaml`),
    stringifyYaml({
      config: Object.fromEntries(Object.entries(values).map(([key, value]) => [`switchyard:${key}`, value])),
    }),
  );
  await stack.init({});
  return { stack, slots };
}

/** `values` with each object of `changes` merged into the key's object. */
function merged(values: Record<string, unknown>, changes: Record<string, unknown>): Record<string, unknown> {
  const result = { ...values };
  for (const [key, value] of Object.entries(changes))
    result[key] = { ...(result[key] as object | undefined), ...(value as object) };
  return result;
}

/** Changes the stack's file as `pulumi config set` would: each object of `changes` merged into its key's. */
export function updateStackFile(stack: TestStack, changes: Record<string, unknown>): void {
  const file = path.join(stack.programDir, `Pulumi.${stack.stack}.yaml`);
  // The rest of the file stays: its `encryptionsalt` decrypts the stack's secrets.
  const { config, ...rest } = parseYaml(fs.readFileSync(file, "utf8")) as { config: Record<string, unknown> };
  const prefixed = Object.fromEntries(
    Object.entries(changes).map(([key, value]) => [`switchyard:${key}`, value]),
  );
  fs.writeFileSync(file, stringifyYaml({ ...rest, config: merged(config, prefixed) }));
}

/**
 * Tears down a stack that keeps its data (anything but development) the README's way, unprotect
 * then destroy, and removes the volumes the destroy retained: those its state held.
 */
export async function teardownKeptStack(stack: TestStack): Promise<void> {
  const { deployment } = JSON.parse(await stack.exportState()) as {
    deployment: { resources?: { type: string; outputs?: { name?: string } }[] };
  };
  const volumes = (deployment.resources ?? [])
    .filter((resource) => resource.type === "docker:index/volume:Volume")
    .map((resource) => String(resource.outputs?.name));
  await stack.pulumi(["state", "unprotect", "--all", "--yes"]);
  try {
    await stack.teardown();
  } finally {
    for (const volume of volumes) await run("docker", ["volume", "rm", "--force", volume]);
  }
}
