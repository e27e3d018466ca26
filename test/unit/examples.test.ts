/**
 * The example stacks (`examples/stacks/<system>/Pulumi.<stack>.yaml`), one per system switchyard
 * replaces: each runs through the real program under mocks, passes the policy pack, and
 * registers what its system's deploy guide relies on.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { allHostNames, hostNames } from "../../infra/names";
import { switchyardPack } from "../../policies/pack";
import { currentStackFacts } from "../../policies/stack";
import { checkPolicies } from "../support/policy";
import { Graph, reveal, repoRoot, runProgram, type StackName } from "../support/program";

const examplesDir = "examples/stacks";
const container = "docker:index/container:Container";
const systemdService = "pulumi-nodejs:dynamic/switchyard:SystemdService";

const examples = fs
  .readdirSync(path.join(repoRoot, examplesDir))
  .sort()
  .flatMap((system) =>
    fs
      .readdirSync(path.join(repoRoot, examplesDir, system))
      .map((file) => /^Pulumi\.(\w+)\.yaml$/.exec(file)?.[1])
      .filter((stack): stack is StackName => stack !== undefined)
      .map((stack) => ({ system, stack, stackFile: path.join(examplesDir, system, `Pulumi.${stack}.yaml`) })),
  );

async function graphOf(system: string, stack: StackName = "production"): Promise<Graph> {
  const run = await runProgram(stack, { stackFile: path.join(examplesDir, system, `Pulumi.${stack}.yaml`) });
  assert.equal(run.error, undefined, `${system} ${stack}: ${run.error?.message}`);
  return new Graph(run.registrations);
}

describe("example stacks under mocks", () => {
  it("has one for each system switchyard replaces", () => {
    assert.deepEqual(
      [...new Set(examples.map((example) => example.system))],
      ["1001-stories", "meme-maker", "psychic-homily", "togather", "unite-hub"],
    );
  });

  for (const { system, stack, stackFile } of examples) {
    it(`${system} (${stack}): the program runs it, and the policy pack reports nothing`, async () => {
      const run = await runProgram(stack, { stackFile });
      assert.equal(run.error, undefined, run.error?.message);
      const report = await checkPolicies(switchyardPack(currentStackFacts()), run.registrations);
      assert.deepEqual(
        report.violations.map((violation) => `${violation.policy}: ${violation.message}`),
        [],
      );
    });
  }

  it("togather: a pg_dump snapshot kept 7 deep before each golang-migrate run", async () => {
    const graph = await graphOf("togather");
    const snapshot = graph.byRole("db-snapshot");
    assert.equal(snapshot.inputs.retention, 7);
    assert.ok(graph.waitsFor(graph.byRole("migrate-run"), snapshot));
    assert.match(String(graph.byRole("migrate-run").inputs.create), /migrate -path \/migrations/);
  });

  it("unite-hub: slots on loopback 3008 and 3009, gated at /api/health/system with degraded refused", async () => {
    const graph = await graphOf("unite-hub");
    for (const [colour, port] of [
      ["blue", 3008],
      ["green", 3009],
    ] as const) {
      const gate = reveal(graph.byRole(`app-${colour}-gate`).inputs) as Record<string, unknown>;
      assert.equal(gate.port, port);
      assert.equal(gate.path, "/api/health/system");
      assert.equal(gate.allowDegraded, false);
    }
  });

  it("meme-maker: MinIO and Prometheus internal and unpublished, the video worker on the active slot's image, smoke checks before traffic", async () => {
    const graph = await graphOf("meme-maker");
    for (const accessory of ["minio", "prometheus"]) {
      const inputs = reveal(graph.byRole(`accessory-${accessory}`, container).inputs) as Record<
        string,
        unknown
      >;
      assert.deepEqual(inputs.networksAdvanced, [{ name: "switchyard-private", aliases: [accessory] }]);
      assert.deepEqual(inputs.ports, [], "nothing published");
    }
    const worker = graph.byRole("worker-video", container);
    assert.deepEqual(reveal(worker.inputs.image), reveal(graph.byRole("app-blue", container).state.image));
    const gate = reveal(graph.byRole("app-green-gate").inputs) as { smokeChecks: { path: string }[] };
    assert.deepEqual(
      gate.smokeChecks.map((check) => check.path),
      ["/docs", "/metrics"],
    );
    // Caddy, with its automatic HTTPS from Let's Encrypt, as the team runs it.
    const upstream = graph.byRole("router-upstream");
    assert.equal(upstream.type, "pulumi-nodejs:dynamic/switchyard:CaddyUpstream");
    assert.deepEqual(reveal(upstream.inputs.acme), {
      // Run on the VPS, over the deploy user's SSH connection.
      exec: ["docker", "exec", "-i", "router"],
      email: "ops@mememaker.example.com",
      directory: "https://acme-v02.api.letsencrypt.org/directory",
      names: ["api.mememaker.example.com"],
    });
  });

  it("1001-stories: the data migration stops the release unless every story is kept and has a language", async () => {
    const graph = await graphOf("1001-stories");
    assert.deepEqual(graph.byRole("db-snapshot").inputs.validationQueries, ["SELECT count(*) FROM stories"]);
    const script = String(graph.byRole("migrate-run").inputs.create);
    assert.match(script, /validation "every story kept"/);
    assert.match(script, /validation "every story has a language"/);
  });

  it("psychic-homily: stage and production share the VPS and no Docker name, and each frontend waits for its switch", async () => {
    const taken = new Set<string>();
    for (const stack of ["stage", "production"] as const) {
      const graph = await graphOf("psychic-homily", stack);
      const names = allHostNames(hostNames(`ph-${stack}`));
      assert.deepEqual(
        names.filter((name) => taken.has(name)),
        [],
      );
      for (const name of names) taken.add(name);
      // The API runs under systemd, and reaches the data stores on their loopback ports.
      const database = stack === "stage" ? 5433 : 5432;
      for (const colour of ["blue", "green"] as const) {
        const unit = reveal(graph.byRole(`app-${colour}`, systemdService).inputs) as {
          unit: string;
          env: Record<string, string>;
        };
        assert.equal(unit.unit, `ph-${stack}-${colour}`);
        assert.match(unit.env.DATABASE_URL, new RegExp(`@127\\.0\\.0\\.1:${database}/psychichomily$`));
        assert.equal(graph.ofType(container).filter((c) => graph.roleOf(c).startsWith("app-")).length, 0);
      }
      assert.deepEqual(reveal(graph.byRole("postgres", container).inputs.ports), [
        { internal: 5432, external: database, ip: "127.0.0.1" },
      ]);
      const deploy = graph.ofType("pulumi-nodejs:dynamic/switchyard:NetlifyDeploy")[0];
      assert.ok(
        graph.waitsFor(deploy, graph.byRole("router-upstream")),
        `${stack}: the frontend after the switch`,
      );
    }
  });
});
