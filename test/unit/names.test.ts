/**
 * Deployment names: what a deployment calls its containers, networks and volumes on the host
 * (infra/names.ts), and the Pulumi names of its resources, which stacks from before deployments
 * had names keep through aliases.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import fc from "fast-check";
import {
  serviceNamePattern,
  allHostNames,
  deploymentNamePattern,
  hostNames,
  reservedAccessoryNames,
  slotColourOfName,
} from "../../infra/names";
import { Graph, type Registration, repoRoot, runProgram, type StackName } from "../support/program";

const resourcesBeforeNames = JSON.parse(
  fs.readFileSync(path.join(repoRoot, "test/fixtures/resources-before-deployment-names.json"), "utf8"),
) as { underMocks: Record<StackName, string[]> };

const deploymentName = fc
  .array(fc.stringMatching(/^[a-z0-9]{1,6}$/), { minLength: 1, maxLength: 4 })
  .map((parts) => `x${parts.join("-")}`)
  .filter((name) => deploymentNamePattern.test(name) && name.length <= 32);

/** A short name, often one the others use too, so that collisions have a chance to show. */
const shortName = fc.oneof(
  fc.constantFrom("data", "b", "minio", "pgdata", "redisdata", "worker"),
  fc.stringMatching(/^[a-z][a-z0-9]{0,3}$/),
);

/** Accessories by name, each with the short names of its volumes. */
const accessories = fc.dictionary(
  shortName.filter((name) => serviceNamePattern.test(name) && !reservedAccessoryNames.includes(name)),
  fc.uniqueArray(fc.oneof(shortName, fc.constantFrom("router-state", "b-data")), { maxLength: 3 }),
  { maxKeys: 4 },
);

/** Every name a deployment with `withAccessories` (and workers of the same names) gives on its host. */
function namesOnHost(deployment: string | undefined, withAccessories: Record<string, string[]>): string[] {
  const names = hostNames(deployment);
  return [
    ...allHostNames(names),
    ...Object.entries(withAccessories).flatMap(([accessory, volumes]) => [
      names.accessory(accessory),
      names.worker(accessory),
      ...volumes.map((volume) => names.accessoryVolume(accessory, volume)),
    ]),
  ];
}

/**
 * The name a resource had before deployments had names, as the engine reads its aliases: its own
 * alias, or its parent's former name in place of its parent's name (Pulumi's inherited alias).
 */
function formerName(registration: Registration, byUrn: Map<string, Registration>): string {
  if (registration.aliases.length > 0) return registration.aliases[0];
  const parent = byUrn.get(registration.parent);
  if (parent && registration.name.startsWith(parent.name)) {
    const parentBefore = formerName(parent, byUrn);
    if (parentBefore !== parent.name) return parentBefore + registration.name.slice(parent.name.length);
  }
  return registration.name;
}

describe("deployment names", () => {
  it("keeps the names a host's only deployment has always had", () => {
    const names = hostNames(undefined);
    assert.deepEqual(names.slots, { blue: "app-blue", green: "app-green" });
    assert.deepEqual(
      [names.router, names.database, names.cache, names.migration],
      ["router", "postgres", "redis", "migrate"],
    );
    assert.deepEqual(
      [names.privateNetwork, names.edgeNetwork, names.routerState, names.databaseVolume, names.cacheVolume],
      [
        "switchyard-private",
        "switchyard-edge",
        "switchyard-router-state",
        "switchyard-pgdata",
        "switchyard-redisdata",
      ],
    );
    assert.equal(names.builtImage("app-blue-image"), "switchyard-app-blue-image");
  });

  it("takes a deployment name of lower-case letters, digits and single dashes, starting with a letter", () => {
    for (const good of ["stage", "shop-eu-2", "a", "p1"]) assert.ok(deploymentNamePattern.test(good), good);
    for (const bad of [
      "Stage",
      "1stage",
      "-stage",
      "stage-",
      "a--b",
      "stage_1",
      "st age",
      "stage\n",
      "stage-2-",
    ])
      assert.ok(!deploymentNamePattern.test(bad), JSON.stringify(bad));
  });

  it("lists every name a deployment gives, for the checks below", () => {
    const names = hostNames("stage");
    assert.deepEqual(allHostNames(names).sort(), [
      "stage-app-blue",
      "stage-app-green",
      "stage-edge",
      "stage-migrate",
      "stage-native",
      "stage-pgdata",
      "stage-postgres",
      "stage-private",
      "stage-redis",
      "stage-redisdata",
      "stage-router",
      "stage-router-acme",
      "stage-router-state",
      "switchyard-stage-app-blue-image",
      "switchyard-stage-app-green-image",
      "switchyard-stage-migrate-image",
    ]);
  });

  it("gives two deployments on one host no name in common, named or not", () => {
    fc.assert(
      fc.property(fc.option(deploymentName, { nil: undefined }), deploymentName, (first, second) => {
        fc.pre(first !== second);
        const taken = new Set(allHostNames(hostNames(first)));
        const shared = allHostNames(hostNames(second)).filter((name) => taken.has(name));
        assert.deepEqual(shared, []);
      }),
    );
  });

  it("gives two deployments and their accessories no name in common, also where one's name starts the other's", () => {
    // `a` with accessory `b` beside `a-b`: where dashes could make one deployment's names spell another's.
    const pair = fc.oneof(
      fc.tuple(fc.option(deploymentName, { nil: undefined }), deploymentName),
      fc
        .tuple(deploymentName, shortName)
        .map(([first, part]): [string, string] => [first, `${first}-${part}`]),
    );
    fc.assert(
      fc.property(pair, accessories, accessories, ([first, second], ofFirst, ofSecond) => {
        fc.pre(first !== second);
        const own = namesOnHost(first, ofFirst);
        assert.equal(new Set(own).size, own.length, `a name of ${first ?? "the unnamed deployment"} repeats`);
        const taken = new Set(own);
        assert.deepEqual(
          namesOnHost(second, ofSecond).filter((name) => taken.has(name)),
          [],
        );
      }),
    );
  });

  it("gives every name of a deployment once", () => {
    fc.assert(
      fc.property(fc.option(deploymentName, { nil: undefined }), (name) => {
        const all = allHostNames(hostNames(name));
        assert.equal(new Set(all).size, all.length);
      }),
    );
  });

  it("finds a slot by its component's name, named or not", () => {
    fc.assert(
      fc.property(
        fc.option(deploymentName, { nil: undefined }),
        fc.constantFrom("blue", "green"),
        (name, colour) => {
          const component = name === undefined ? `app-${colour}` : `${name}-app-${colour}`;
          assert.equal(slotColourOfName(component), colour);
          assert.equal(slotColourOfName(`${component}-gate`), undefined);
        },
      ),
    );
  });

  for (const stack of ["dev", "stage", "production"] as const) {
    it(`${stack}: every resource keeps the name it had before deployments had names, so an upgrade replaces nothing`, async () => {
      const run = await runProgram(stack);
      assert.equal(run.error, undefined);
      const byUrn = new Map(run.registrations.map((r) => [r.urn, r]));
      const formerly = run.registrations.map((r) => `${r.type}::${formerName(r, byUrn)}`).sort();
      assert.deepEqual(formerly, resourcesBeforeNames.underMocks[stack]);
      // And the names now are the deployment's: the stack's, since these stacks name none.
      const deployment = new Graph(run.registrations).ofType("switchyard:index:Deployment")[0];
      assert.equal(deployment.name, stack);
    });
  }

  it("a named deployment names every container, network and volume after itself", async () => {
    const run = await runProgram("stage", { mutate: (v) => void (v.deployment = "shop-stage") });
    assert.equal(run.error, undefined);
    const named = ["container:Container", "network:Network", "volume:Volume"].flatMap((kind) =>
      run.registrations.filter((r) => r.type === `docker:index/${kind}`).map((r) => String(r.inputs.name)),
    );
    // The stage file names its database volume itself (shop-pgdata): the user's choice stands.
    assert.deepEqual(named.filter((name) => !name.startsWith("shop-stage-")).sort(), ["shop-pgdata"]);
    const migration = new Graph(run.registrations).byRole("migrate-run");
    assert.match(String(migration.inputs.create), /--name' 'shop-stage-migrate'|--name shop-stage-migrate /);
  });
});
