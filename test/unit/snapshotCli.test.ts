/**
 * Where `npm run snapshot` gets a stack's config, how it maps it to a snapshot location, and its
 * usage errors. The pulumi CLI cannot be installed here: a stand-in script on PATH answers
 * like `pulumi config --json` and records how it was called.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { main, restoreMaintenance, snapshotLocation } from "../../bin/snapshot";
import { loadStackConfigFor } from "../../bin/stackConfigSource";
import { repoRoot } from "../support/program";

const slots = {
  blue: { build: "examples/demo-app", version: "1.0.0" },
  green: { build: "examples/demo-app", version: "1.1.0" },
};

describe("npm run snapshot: stack config and usage", () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-cli-"));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** A `pulumi` on PATH that prints `answer` and writes its arguments and working directory to a file. */
  function fakePulumi(answer: unknown): {
    searchPath: string;
    calls: () => string[];
  } {
    const bin = path.join(dir, "bin");
    fs.mkdirSync(bin);
    const log = path.join(dir, "calls.log");
    fs.writeFileSync(path.join(dir, "answer.json"), JSON.stringify(answer));
    fs.writeFileSync(
      path.join(bin, "pulumi"),
      `#!/bin/sh\nprintf '%s\\n' "$PWD $*" >> '${log}'\ncat '${path.join(dir, "answer.json")}'\n`,
      { mode: 0o755 },
    );
    return {
      searchPath: `${bin}:/usr/bin:/bin`,
      calls: () => fs.readFileSync(log, "utf8").trim().split("\n"),
    };
  }

  it("reads a plain-text config file laid out like Pulumi.<stack>.yaml", async () => {
    const file = path.join(dir, "plain.yaml");
    fs.writeFileSync(
      file,
      [
        "config:",
        "  switchyard:slots:",
        "    blue: {build: examples/demo-app, version: 1.0.0}",
        "    green: {build: examples/demo-app, version: 1.1.0}",
        "  switchyard:database: {name: shop, user: shop}",
        "  switchyard:snapshots: {directory: /srv/snapshots, retention: 3}",
        "  switchyard:appSecrets: {JWT_SECRET: plain-for-the-test}",
        "",
      ].join("\n"),
    );
    const { config, source } = await loadStackConfigFor({
      stack: "x",
      configFile: file,
      projectDir: repoRoot,
      searchPath: "",
    });
    assert.equal(source, file);
    assert.deepEqual(config.snapshots, {
      directory: "/srv/snapshots",
      retention: 3,
      skip: false,
    });
    assert.deepEqual(config.appSecrets, { JWT_SECRET: "plain-for-the-test" });
  });

  it("asks the pulumi CLI, in the project directory, for the stack's decrypted config", async () => {
    const pulumi = fakePulumi({
      "switchyard:slots": {
        value: JSON.stringify(slots),
        secret: false,
        objectValue: slots,
      },
      "switchyard:database": {
        value: '{"name":"shop","user":"shop"}',
        secret: false,
      },
      "switchyard:appSecrets": {
        value: '{"JWT_SECRET":"decrypted"}',
        secret: true,
      },
      "docker:host": { value: "unix:///var/run/docker.sock", secret: false },
    });
    const { config, source } = await loadStackConfigFor({
      stack: "stage",
      projectDir: dir,
      searchPath: pulumi.searchPath,
    });
    assert.equal(source, "pulumi config --stack stage");
    assert.deepEqual(pulumi.calls(), [`${dir} config --show-secrets --json --stack stage`]);
    assert.equal(config.database.name, "shop");
    assert.deepEqual(config.appSecrets, { JWT_SECRET: "decrypted" });
  });

  it("keeps the program's rule that a secret key must be held as a secret", async () => {
    const pulumi = fakePulumi({
      "switchyard:slots": { value: JSON.stringify(slots), secret: false },
      "switchyard:appSecrets": {
        value: '{"JWT_SECRET":"oops"}',
        secret: false,
      },
    });
    await assert.rejects(
      loadStackConfigFor({
        stack: "stage",
        projectDir: dir,
        searchPath: pulumi.searchPath,
      }),
      /switchyard:appSecrets: holds a secret but is in plain text/,
    );
  });

  it("reads Pulumi.<stack>.yaml without the CLI when it holds no encrypted values", async () => {
    const { config, source } = await loadStackConfigFor({
      stack: "dev",
      projectDir: repoRoot,
      searchPath: "",
    });
    assert.equal(source, path.join(repoRoot, "Pulumi.dev.yaml"));
    assert.equal(config.snapshots.directory, "/tmp/switchyard-snapshots");
  });

  it("says which values it cannot decrypt without the CLI, and how to go on", async () => {
    await assert.rejects(
      loadStackConfigFor({
        stack: "production",
        projectDir: repoRoot,
        searchPath: "",
      }),
      (error: Error) => {
        assert.match(
          error.message,
          /Pulumi\.production\.yaml holds encrypted values \(.*switchyard:sshPrivateKey.*\)/,
        );
        assert.match(error.message, /install pulumi .* or pass --config <file> with a plain-text copy/);
        return true;
      },
    );
  });

  it("refuses a stack name that is not one", async () => {
    await assert.rejects(
      loadStackConfigFor({
        stack: "../etc",
        projectDir: repoRoot,
        searchPath: "",
      }),
      /^Error: --stack: expected a stack name/,
    );
  });

  it("reaches the database through docker exec into its container, or directly when told", async () => {
    const { config } = await loadStackConfigFor({
      stack: "dev",
      projectDir: repoRoot,
      searchPath: "",
    });
    assert.deepEqual(snapshotLocation(config, "dev"), {
      owner: { project: "switchyard", stack: "dev" },
      directory: "/tmp/switchyard-snapshots",
      access: {
        // The engine the stack names (Pulumi.dev.yaml's target), not whatever the bare CLI would use.
        commandPrefix: ["docker", "-H", "unix:///var/run/docker.sock", "exec", "-i", "postgres"],
        user: "app",
        database: "app",
      },
    });
    assert.deepEqual(snapshotLocation(config, "dev", { host: "10.0.0.5", port: 6432 }).access, {
      commandPrefix: [],
      host: "10.0.0.5",
      port: 6432,
      user: "app",
      database: "app",
    });
  });

  it("holds public requests on the stack's own router, with the stack's message, around a restore", async () => {
    const { config } = await loadStackConfigFor({ stack: "dev", projectDir: repoRoot, searchPath: "" });
    const router = ["docker", "-H", "unix:///var/run/docker.sock", "exec", "-i", "router"];
    const maintenance = restoreMaintenance(config);
    assert.deepEqual(maintenance.hold.slice(0, router.length), router);
    assert.deepEqual(maintenance.release, [...router, "rm", "-f", "/etc/nginx/switchyard/maintenance.html"]);
    assert.match(maintenance.page, /<p>We are down for maintenance and will be back shortly\.<\/p>/);
    const named = restoreMaintenance({
      ...config,
      deployment: "stage",
      router: { ...config.router, maintenance: { ...config.router.maintenance, message: "Back at 5" } },
    });
    assert.equal(named.hold[router.length - 1], "stage-router");
    assert.match(named.page, /<p>Back at 5<\/p>/);
    const caddy = restoreMaintenance({ ...config, router: { ...config.router, kind: "caddy" } });
    assert.deepEqual(caddy.release, [...router, "rm", "-f", "/etc/caddy/switchyard/maintenance.html"]);
  });

  for (const [args, expected] of [
    [[], /^expected list or restore, got nothing/],
    [["list"], /^--stack <name> is required/],
    [["restore", "--stack", "dev"], /^restore takes one snapshot file \(or latest\)/],
    [["list", "x.dump", "--stack", "dev"], /^list takes no file, got x\.dump/],
    [["list", "--stack", "dev", "--target-db", "x"], /^--target-db applies to restore only/],
    [["list", "--stack", "dev", "--host", "db"], /^--host and --port go together/],
    [
      ["list", "--stack", "dev", "--host", "db", "--port", "99999"],
      /^--port: expected a port 1-65535, got "99999"/,
    ],
    [["list", "--stack", "dev", "--verbose"], /Unknown option '--verbose'/],
  ] as const) {
    it(`exits 2 with usage: ${args.join(" ") || "(no arguments)"}`, async () => {
      const lines: string[] = [];
      const code = await main(args, {
        env: {},
        out: (line) => assert.fail(`usage errors go to stderr, got on stdout: ${line}`),
        err: (line) => lines.push(line),
        projectDir: repoRoot,
      });
      assert.equal(code, 2);
      assert.match(lines.join("\n"), expected);
      assert.match(lines.join("\n"), /\n\nusage:\n {2}npm run snapshot -- list --stack <name>/);
    });
  }
});
