/**
 * Deployment names through the real engine: a stack from before deployments had names upgrades
 * without replacing anything, and two named deployments share one Docker engine — each with its
 * own containers, networks, volumes, ports and traffic pointer — deploying, switching, rolling
 * back and being destroyed without touching the other.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { hostNames, unnamedDeployment } from "../../infra/names";
import { run, runChecked } from "../support/process";
import { repoRoot } from "../support/program";
import {
  deploymentContainers,
  newDevStack,
  newNamedDevStack,
  type OwnPorts,
  runningAs,
  type TestStack,
} from "./support/engine";
import { answersOnNewConnections, Probe, unexpected, whileProbing } from "./support/traffic";

const resourcesBeforeNames = JSON.parse(
  fs.readFileSync(path.join(repoRoot, "test/fixtures/resources-before-deployment-names.json"), "utf8"),
) as { throughTheEngine: { dev: string[] } };

interface StateResource {
  urn: string;
  type: string;
  id?: string;
  outputs?: { name?: string };
}

/** The part of a URN after the project: `<parent types>$<type>::<name>`. */
function urnTail(urn: string): string {
  return urn.split("::").slice(2, 4).join("::");
}

/**
 * `state` as the version before deployment names wrote it: the deployment called `switchyard` and
 * its children by their roles alone. Every URN in it is rewritten, references included (parents,
 * dependencies, `provider` as `<urn>::<id>`).
 */
function withNamesFromBefore(state: unknown, deployment: string): unknown {
  const rename = (urn: string) => {
    const parts = urn.split("::");
    const [, , types, name] = parts;
    if (types === "switchyard:index:Deployment" && name === deployment) parts[3] = unnamedDeployment;
    else if (types.startsWith("switchyard:index:Deployment$") && name.startsWith(`${deployment}-`))
      parts[3] = name.slice(deployment.length + 1);
    return parts.join("::");
  };
  const walk = (value: unknown): unknown => {
    if (typeof value === "string") return value.startsWith("urn:pulumi:") ? rename(value) : value;
    if (Array.isArray(value)) return value.map(walk);
    if (value !== null && typeof value === "object")
      return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, walk(item)]));
    return value;
  };
  return walk(state);
}

function resourcesOf(state: string): StateResource[] {
  return (JSON.parse(state) as { deployment: { resources?: StateResource[] } }).deployment.resources ?? [];
}

describe("a stack from before deployment names, through the real engine", function () {
  this.timeout(900_000);
  let stack: TestStack;

  before(async () => {
    stack = await newDevStack();
  });

  after(() => stack?.teardown());

  it("upgrades without replacing, updating or restarting anything", async () => {
    await stack.pulumiChecked(["up", "--yes", "--skip-preview"], 600_000);
    const containers = await runningAs(
      resourcesOf(await stack.exportState())
        .filter((resource) => resource.type === "docker:index/container:Container")
        .map((resource) => String(resource.outputs?.name)),
    );

    // The state as the version before names left it: the same resources, under their names then.
    const older = withNamesFromBefore(JSON.parse(await stack.exportState()), stack.stack);
    const olderFile = path.join(stack.dir, "before-names.json");
    fs.writeFileSync(olderFile, JSON.stringify(older));
    assert.deepEqual(
      resourcesOf(JSON.stringify(older))
        .map((resource) => urnTail(resource.urn))
        .sort(),
      resourcesBeforeNames.throughTheEngine.dev,
      "the rewritten state names exactly what that version's `pulumi up` created",
    );
    await stack.pulumiChecked(["stack", "import", "--file", olderFile]);

    await stack.pulumiChecked(["preview", "--expect-no-changes", "--diff"]);
    await stack.pulumiChecked(["up", "--yes", "--skip-preview", "--expect-no-changes"], 600_000);
    assert.deepEqual(
      await runningAs(Object.keys(containers)),
      containers,
      "no container was replaced or restarted",
    );
    assert.ok(
      resourcesOf(await stack.exportState()).some((resource) =>
        resource.urn.endsWith(`switchyard:index:Deployment::${stack.stack}`),
      ),
      "the state now holds the new names",
    );
  });
});

interface PairMember extends OwnPorts {
  stack: string;
}

const pair: PairMember[] = [
  { stack: "pair-stage", httpPort: 8181, checkPort: 18180, loopbackPorts: { blue: 18181, green: 18182 } },
  {
    stack: "pair-production",
    httpPort: 8182,
    checkPort: 18280,
    loopbackPorts: { blue: 18281, green: 18282 },
  },
];

const containersOf = (member: PairMember) => deploymentContainers(member.stack);

const siteOf = (member: PairMember) => `http://127.0.0.1:${member.httpPort}/`;

describe("two deployments on one engine, through the real engine", function () {
  this.timeout(900_000);
  const stacks: TestStack[] = [];
  const [stage, production] = pair;

  before(async () => {
    for (const member of pair) stacks.push(await newNamedDevStack(member.stack, member));
  });

  after(async () => {
    // Each stack is torn down even when another's destroy fails; the first failure is the suite's.
    const failures: unknown[] = [];
    for (const stack of stacks) await stack.teardown().catch((error: unknown) => failures.push(error));
    if (failures.length > 0) throw failures[0];
  });

  it("deploys both, each with its own containers, networks and volumes", async () => {
    for (const stack of stacks) await stack.pulumiChecked(["up", "--yes", "--skip-preview"], 600_000);
    for (const member of pair) {
      const names = hostNames(member.stack);
      for (const container of containersOf(member))
        assert.equal(
          (
            await runChecked("docker", ["inspect", "--format", "{{.State.Running}}", container])
          ).stdout.trim(),
          "true",
          container,
        );
      for (const network of [names.privateNetwork, names.edgeNetwork])
        assert.equal((await run("docker", ["network", "inspect", network])).code, 0, network);
      for (const volume of [names.databaseVolume, names.routerState])
        assert.equal((await run("docker", ["volume", "inspect", volume])).code, 0, volume);
      assert.deepEqual(await answersOnNewConnections(5, siteOf(member)), ["blue 1.0.0"]);
    }
  });

  for (const [moving, still] of [
    [stage, production],
    [production, stage],
  ]) {
    it(`switches ${moving.stack} to green and back while ${still.stack} serves blue, untouched`, async () => {
      const movingStack = stacks[pair.indexOf(moving)];
      const stillStack = stacks[pair.indexOf(still)];
      const untouched = await runningAs(containersOf(still));

      await movingStack.pulumiChecked(["config", "set", "activeSlot", "green"]);
      assert.deepEqual(await movingStack.plannedChanges(), ["update router-upstream"]);
      const seen = await whileProbing(new Probe(4, 20, siteOf(still)), () =>
        movingStack.pulumiChecked(["up", "--yes", "--skip-preview"], 600_000),
      );
      assert.deepEqual(unexpected(seen, ["blue 1.0.0"]), {}, `${still.stack} saw only its blue slot`);
      assert.deepEqual(await answersOnNewConnections(5, siteOf(moving)), ["green 1.1.0"]);

      await movingStack.pulumiChecked(["config", "set", "activeSlot", "blue"]);
      await movingStack.pulumiChecked(["up", "--yes", "--skip-preview"], 600_000);
      assert.deepEqual(await answersOnNewConnections(5, siteOf(moving)), ["blue 1.0.0"]);

      assert.deepEqual(
        await runningAs(containersOf(still)),
        untouched,
        `${still.stack}'s containers as they were`,
      );
      await stillStack.pulumiChecked(["preview", "--expect-no-changes"]);
    });
  }

  it("destroys one deployment and leaves the other serving, untouched", async () => {
    const untouched = await runningAs(containersOf(production));
    const seen = await whileProbing(new Probe(4, 20, siteOf(production)), () =>
      stacks[0].pulumiChecked(["destroy", "--yes", "--skip-preview"], 600_000),
    );
    assert.deepEqual(unexpected(seen, ["blue 1.0.0"]), {});
    for (const container of containersOf(stage))
      assert.notEqual(
        (await run("docker", ["container", "inspect", container])).code,
        0,
        `${container} is gone`,
      );
    const names = hostNames(stage.stack);
    for (const network of [names.privateNetwork, names.edgeNetwork])
      assert.notEqual((await run("docker", ["network", "inspect", network])).code, 0, `${network} is gone`);
    assert.deepEqual(await runningAs(containersOf(production)), untouched);
    await stacks[1].pulumiChecked(["preview", "--expect-no-changes"]);
  });
});
