import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import fc from "fast-check";
import { parse as parseYaml } from "yaml";
import { caddy, cli, nativeApp, s3Standin } from "../../engine/binaries";
import { engineEnvironment, renderEnvFile, withEngine } from "../../engine/env";
import {
  binaryVersion,
  buildStamp,
  generatedFiles,
  goBuildArgv,
  goBuildEnv,
  goProgramArgv,
  lockedVersion,
  moduleSources,
  programModuleProblem,
  requiredVersion,
} from "../../engine/go";
import {
  buildContext,
  dockerBuildArgv,
  imageSpecs,
  pinnedReference,
  repositoryOf,
} from "../../engine/images";
import { engineLayout, repoRoot } from "../../engine/layout";
import { providerPlugins, tfgenArgv } from "../../engine/plugins";
import {
  compareVersions,
  formatVersion,
  installedPluginPath,
  minimumPulumi,
  parseVersion,
  pluginInstallArgv,
  unsuitablePulumi,
} from "../../engine/pulumi";
import { renderRegistryConfig } from "../../engine/registry";
import { formatSeconds, runSteps, type Step } from "../../engine/steps";

const layout = engineLayout("/work/checkout", { HOME: "/home/u", XDG_CACHE_HOME: "/cache" });
const lock = JSON.parse(fs.readFileSync(path.join(repoRoot, "package-lock.json"), "utf8")) as unknown;
const goMod = (module: string) => fs.readFileSync(path.join(repoRoot, "engine/go", module, "go.mod"), "utf8");

describe("engine layout", () => {
  it("keeps what a checkout runs with in .engine and what is slow to make in a cache shared by checkouts", () => {
    assert.equal(layout.bin, "/work/checkout/.engine/bin");
    assert.equal(layout.pulumiHome, "/work/checkout/.engine/pulumi-home");
    assert.equal(layout.cache.goModules, "/cache/switchyard/go/mod");
    assert.equal(layout.cache.debootstrap, "/cache/switchyard/debootstrap");
    assert.equal(layout.cache.registry, "/cache/switchyard/registry");
    assert.equal(engineLayout("/c", { SWITCHYARD_CACHE: "/x" }).cache.binaries, "/x/bin");
    assert.match(engineLayout("/c", {}).cache.dir, /\/\.cache\/switchyard$/);
  });
});

describe("versions written down once", () => {
  it("reads a requirement from go.mod, in a block or on its own line, and nothing else", () => {
    const text =
      "module m\n\nrequire x.org/a v1.2.3\n\nrequire (\n\tgithub.com/p/q/v3 v3.4.5 // indirect\n)\n";
    assert.equal(requiredVersion(text, "x.org/a"), "v1.2.3");
    assert.equal(requiredVersion(text, "github.com/p/q/v3"), "v3.4.5");
    assert.equal(requiredVersion(text, "github.com/p/q"), undefined);
    assert.equal(requiredVersion(text, "x.org"), undefined);
    assert.equal(
      requiredVersion("require xYorg/a v9.9.9\n", "x.org/a"),
      undefined,
      "a dot in a path is not a wildcard",
    );
  });

  it("reads an npm package's locked version without a leading v", () => {
    assert.equal(
      lockedVersion({ packages: { "node_modules/@p/c": { version: "v4.5.0" } } }, "@p/c"),
      "4.5.0",
    );
    assert.equal(lockedVersion({ packages: {} }, "@p/c"), undefined);
    assert.equal(lockedVersion({}, "@p/c"), undefined);
  });

  it("stamps the CLI with the pkg/v3 release its wrapper requires, and a plugin with its npm package's version", () => {
    assert.equal(binaryVersion(cli, { goMod: () => goMod("pulumi"), lock }), "3.248.0");
    const command = providerPlugins.find((plugin) => plugin.name === "command");
    assert.ok(command?.source.kind === "go");
    assert.equal(
      binaryVersion(command.source.binary, { goMod: () => "", lock }),
      lockedVersion(lock, "@pulumi/command"),
    );
    assert.throws(
      () =>
        binaryVersion(
          { ...cli, version: { from: "module", module: "example.org/none" } },
          { goMod: () => "", lock },
        ),
      /engine\/go\/pulumi\/go.mod does not require example.org\/none/,
    );
    assert.throws(
      () =>
        binaryVersion({ ...cli, version: { from: "npm", package: "@x/none" } }, { goMod: () => "", lock }),
      /package-lock.json has no @x\/none/,
    );
  });

  it("builds the CLI the Pulumi CLI and its SDK are released as, and the program's @pulumi/pulumi is that release", () => {
    assert.equal(requiredVersion(goMod("pulumi"), "github.com/pulumi/pulumi/sdk/v3"), "v3.248.0");
    assert.equal(lockedVersion(lock, "@pulumi/pulumi"), "3.248.0");
  });

  it("has a wrapper module with a tool line or a main package for every Go binary it builds", () => {
    for (const plugin of providerPlugins) {
      const source = plugin.source;
      switch (source.kind) {
        case "go":
          assert.match(goMod(source.binary.module), new RegExp(`^tool ${source.binary.package}$`, "m"));
          break;
        case "bridged":
          for (const binary of [source.tfgen, source.provider]) {
            const main = path.join(repoRoot, "engine/go", binary.module, binary.package, "main.go");
            assert.match(fs.readFileSync(main, "utf8"), /^package main$/m, main);
            assert.match(
              goMod(binary.module),
              new RegExp(`^module ${binary.versionVariable.replace(/\.Version$/, "")}$`, "m"),
            );
          }
          assert.match(goMod(source.provider.module), new RegExp(`^\\s*${source.upstream} `, "m"));
          break;
      }
    }
    assert.match(goMod("pulumi"), /^tool github.com\/pulumi\/pulumi\/pkg\/v3\/cmd\/pulumi$/m);
    assert.match(
      goMod("language-nodejs"),
      /^tool github.com\/pulumi\/pulumi\/sdk\/nodejs\/cmd\/pulumi-language-nodejs\/v3$/m,
    );
  });

  it("builds a plugin for every provider package the program depends on", () => {
    const dependencies = Object.keys(
      (JSON.parse(fs.readFileSync(path.join(repoRoot, "package.json"), "utf8")) as { dependencies: object })
        .dependencies,
    );
    const providers = dependencies.filter(
      (name) =>
        name.startsWith("@pulumi/") &&
        (
          JSON.parse(fs.readFileSync(path.join(repoRoot, "node_modules", name, "package.json"), "utf8")) as {
            pulumi?: { resource?: boolean };
          }
        ).pulumi?.resource === true,
    );
    const covered = providerPlugins.map((plugin) => plugin.npm);
    // The GitHub provider only serves the Pipeline, which no stack of this machine deploys.
    assert.deepEqual(providers.filter((name) => !covered.includes(name)).sort(), ["@pulumi/github"]);
  });
});

describe("go build", () => {
  it("builds with the release flags: trimmed, stripped, tagged, version stamped", () => {
    assert.deepEqual(goBuildArgv(cli, "3.248.0", "/out/pulumi"), [
      "go",
      "build",
      "-v",
      "-o",
      "/out/pulumi",
      "-trimpath",
      "-tags",
      "osusergo,grpcnotrace",
      "-ldflags",
      "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v3.248.0",
      "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi",
    ]);
    assert.ok(!goBuildArgv({ ...cli, tags: [] }, "1.0.0", "x").includes("-tags"));
  });

  it("builds the native demo app statically from its module's root, with the standard library only", () => {
    assert.deepEqual(goProgramArgv("/out/native-app"), [
      "go",
      "build",
      "-v",
      "-o",
      "/out/native-app",
      "-trimpath",
      "-ldflags",
      "-s -w",
      ".",
    ]);
    assert.equal(goBuildEnv(layout, {}).CGO_ENABLED, "0");
    const goMod = fs.readFileSync(path.join(repoRoot, "examples/native-app/go.mod"), "utf8");
    assert.match(goMod, /^module switchyard\.example\/native-app$/m);
    assert.doesNotMatch(goMod, /^require\b/m);
    assert.ok(!fs.existsSync(path.join(repoRoot, "examples/native-app/go.sum")));
    assert.equal(
      programModuleProblem(nativeApp.dir, moduleSources(path.join(repoRoot, nativeApp.dir))),
      undefined,
    );
  });

  it("builds the S3 stand-in with gofakes3 v1.2.0, pinned by its go.sum, the same way", () => {
    const dir = path.join(repoRoot, s3Standin.dir);
    const goMod = fs.readFileSync(path.join(dir, "go.mod"), "utf8");
    assert.match(goMod, /^module switchyard\.example\/s3-standin$/m);
    assert.equal(requiredVersion(goMod, "github.com/johannesboyne/gofakes3"), "v1.2.0");
    const goSum = fs.readFileSync(path.join(dir, "go.sum"), "utf8");
    assert.match(goSum, /^github\.com\/johannesboyne\/gofakes3 v1\.2\.0 h1:/m);
    assert.equal(programModuleProblem(s3Standin.dir, moduleSources(dir)), undefined);
  });

  it("builds Caddy's standard distribution at the version its go.mod pins, the version its title names", () => {
    const dir = path.join(repoRoot, caddy.dir);
    const goMod = fs.readFileSync(path.join(dir, "go.mod"), "utf8");
    const version = requiredVersion(goMod, "github.com/caddyserver/caddy/v2");
    assert.equal(version, "v2.11.9");
    assert.ok(caddy.title.startsWith(`Caddy ${version?.replace(/^v/, "")} `), caddy.title);
    assert.match(
      fs.readFileSync(path.join(dir, "go.sum"), "utf8"),
      /^github\.com\/caddyserver\/caddy\/v2 v2\.11\.9 h1:/m,
    );
    const main = fs.readFileSync(path.join(dir, "main.go"), "utf8");
    assert.match(main, /^\t_ "github\.com\/caddyserver\/caddy\/v2\/modules\/standard"$/m);
    assert.equal(programModuleProblem(caddy.dir, moduleSources(dir)), undefined);
  });

  it("refuses a program that requires modules without the go.sum that pins them", () => {
    const requires: [string, string] = ["go.mod", "module m\n\nrequire (\n\tx.org/a v1.0.0\n)\n"];
    assert.match(
      programModuleProblem("examples/x", [requires, ["main.go", "package main"]]) ?? "",
      /^examples\/x\/go\.mod requires modules but examples\/x has no go\.sum/,
    );
    assert.equal(
      programModuleProblem("examples/x", [requires, ["go.sum", "x.org/a v1.0.0 h1:…"]]),
      undefined,
    );
    assert.equal(programModuleProblem("examples/x", [["go.mod", "module m\n\ngo 1.26\n"]]), undefined);
    assert.equal(
      programModuleProblem("examples/x", [["main.go", "package main"]]),
      "examples/x has no go.mod",
    );
  });

  it("rebuilds when anything that shapes the binary changes, and only then", () => {
    const sources: [string, string][] = [
      ["go.mod", "m"],
      ["go.sum", "s"],
    ];
    const parts = { sources, argv: ["go", "build"], goVersion: "go1.26.8" };
    const stamp = buildStamp(parts);
    assert.equal(buildStamp({ ...parts, sources: sources.map(([file, text]) => [file, text]) }), stamp);
    assert.match(stamp, /^[0-9a-f]{16}$/);
    for (const changed of [
      { ...parts, sources: [sources[0], ["go.sum", "s2"]] as [string, string][] },
      { ...parts, sources: [...sources, ["mapping.go", "package x"]] as [string, string][] },
      { ...parts, sources: [sources[0], ["go2.sum", "s"]] as [string, string][] },
      { ...parts, argv: ["go", "build", "-v"] },
      { ...parts, goVersion: "go1.27.3" },
    ]) {
      assert.notEqual(buildStamp(changed), stamp);
    }
    // Parts are not simply concatenated: moving text from one to the next is a change.
    assert.notEqual(
      buildStamp({
        ...parts,
        sources: [
          ["go.mod", "ms"],
          ["go.sum", ""],
        ],
      }),
      stamp,
    );
  });

  it("stamps a wrapper by all its files but what tfgen writes into it, found at any depth", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-module-"));
    fs.mkdirSync(path.join(dir, "cmd/pulumi-resource-x"), { recursive: true });
    fs.writeFileSync(path.join(dir, "go.mod"), "module x\n");
    fs.writeFileSync(path.join(dir, "cmd/pulumi-resource-x/main.go"), "package main\n");
    const before = moduleSources(dir);
    assert.deepEqual(before, [
      ["cmd/pulumi-resource-x/main.go", "package main\n"],
      ["go.mod", "module x\n"],
    ]);
    for (const generated of generatedFiles)
      fs.writeFileSync(path.join(dir, "cmd/pulumi-resource-x", generated), "{}");
    assert.deepEqual(moduleSources(dir), before);
    fs.rmSync(dir, { recursive: true });
  });

  it("runs tfgen for the schema only, without examples", () => {
    assert.deepEqual(tfgenArgv("/cache/pulumi-tfgen-x", "/tmp/out"), [
      "/cache/pulumi-tfgen-x",
      "schema",
      "--out",
      "/tmp/out",
      "--skip-examples",
    ]);
  });
});

describe("Pulumi CLI versions", () => {
  it("parses what `pulumi version` prints, and rejects anything else", () => {
    assert.deepEqual(parseVersion("v3.248.0\n"), { major: 3, minor: 248, patch: 0 });
    assert.deepEqual(parseVersion("3.1.2-dev.0"), { major: 3, minor: 1, patch: 2 });
    for (const text of ["", "v3.248", "version 3.248.0", "v3.248.0 extra", "vx.1.2"]) {
      assert.equal(parseVersion(text), undefined, text);
    }
  });

  it("round-trips every version through its text", () => {
    const version = fc.record({ major: fc.nat(999), minor: fc.nat(999), patch: fc.nat(999) });
    fc.assert(fc.property(version, (v) => assert.deepEqual(parseVersion(`v${formatVersion(v)}`), { ...v })));
  });

  it("orders versions by major, then minor, then patch", () => {
    const version = fc.record({ major: fc.nat(9), minor: fc.nat(9), patch: fc.nat(9) });
    fc.assert(
      fc.property(version, version, (a, b) => {
        const byText = formatVersion(a).split(".").map(Number);
        const other = formatVersion(b).split(".").map(Number);
        const expected = byText[0] - other[0] || byText[1] - other[1] || byText[2] - other[2];
        assert.equal(Math.sign(compareVersions(a, b)), Math.sign(expected));
      }),
    );
  });

  it("uses a user's pulumi only when it is 3.x and at least the minimum", () => {
    assert.equal(unsuitablePulumi(minimumPulumi), undefined);
    assert.equal(unsuitablePulumi({ major: 3, minor: 276, patch: 0 }), undefined);
    assert.equal(unsuitablePulumi({ major: 3, minor: 220, patch: 9 }), "is older than 3.221.0");
    assert.equal(unsuitablePulumi({ major: 4, minor: 0, patch: 0 }), "is major version 4, not 3");
    assert.equal(unsuitablePulumi(undefined), "does not report a version");
  });

  it("registers a plugin file under the exact version the engine will ask for", () => {
    assert.deepEqual(pluginInstallArgv("/b/pulumi", "command", "0.9.2", "/c/pulumi-resource-command-ab"), [
      "/b/pulumi",
      "plugin",
      "install",
      "resource",
      "command",
      "0.9.2",
      "--file",
      "/c/pulumi-resource-command-ab",
      "--reinstall",
    ]);
    assert.equal(
      installedPluginPath("/h", "command", "0.9.2"),
      "/h/plugins/resource-command-v0.9.2/pulumi-resource-command",
    );
  });
});

describe("engine environment", () => {
  it("puts the engine first on PATH, points at the project's PULUMI_HOME and never downloads", () => {
    const env = withEngine(engineEnvironment(layout), { PATH: "/usr/bin", HOME: "/home/u" });
    assert.equal(env.PATH, "/work/checkout/.engine/bin:/usr/bin");
    assert.equal(env.PULUMI_HOME, "/work/checkout/.engine/pulumi-home");
    assert.equal(env.PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION, "true");
    assert.equal(env.PULUMI_SKIP_UPDATE_CHECK, "true");
    assert.equal(env.PULUMI_IGNORE_AMBIENT_PLUGINS, "true");
    assert.equal(env.HOME, "/home/u");
    assert.equal(withEngine(engineEnvironment(layout, "/opt/pulumi"), {}).PATH, `${layout.bin}:/opt/pulumi`);
  });

  it("writes an env file that a shell sources to exactly those variables, whatever the paths contain", function () {
    this.timeout(120_000);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-env-"));
    try {
      fc.assert(
        fc.property(fc.stringMatching(/^[a-z0-9 '"$`\\;&|*-]{1,12}$/), (part) => {
          const tricky = engineLayout(`/w/${part}`, { SWITCHYARD_CACHE: "/c" });
          const file = path.join(dir, "env.sh");
          fs.writeFileSync(file, renderEnvFile(engineEnvironment(tricky)));
          const printed = execFileSync(
            "bash",
            ["-c", `source "$1" && printf '%s\\n' "$PATH" "$PULUMI_HOME"`, "-", file],
            {
              env: { PATH: "/usr/bin:/bin" },
              // stdin not a socket: bash would take itself for a remote shell and read ~/.bashrc.
              stdio: ["ignore", "pipe", "pipe"],
              encoding: "utf8",
            },
          );
          assert.deepEqual(printed.split("\n").slice(0, 2), [
            `${tricky.bin}:/usr/bin:/bin`,
            tricky.pulumiHome,
          ]);
        }),
        { numRuns: 40 },
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("registry and images", () => {
  it("configures the registry on loopback only, without auth, storing where it is told", () => {
    const config = renderRegistryConfig("/state/registry storage");
    assert.match(config, /^ {2}addr: 127\.0\.0\.1:5000$/m);
    assert.match(config, /rootdirectory: "\/state\/registry storage"/);
    assert.doesNotMatch(config, /auth|htpasswd/);
  });

  it("builds every image on one pinned by digest, bases first", () => {
    const specs = imageSpecs("1.0.0");
    const seen = new Set<string>(["minbase"]);
    for (const spec of specs) {
      assert.ok(seen.has(spec.base), `${spec.name} builds on ${spec.base} before it exists`);
      seen.add(spec.name);
      assert.ok(fs.existsSync(path.join(repoRoot, spec.context, "Dockerfile")), spec.context);
      assert.match(
        fs.readFileSync(path.join(repoRoot, spec.context, "Dockerfile"), "utf8"),
        /^ARG BASE(=\S+)?$/m,
      );
    }
    assert.deepEqual(
      specs.map((spec) => spec.name),
      [
        "debian",
        "postgres",
        "redis",
        "nginx",
        "caddy",
        "lego",
        "node",
        "demo-app",
        "systemd-host",
        "s3",
        "prometheus",
      ],
    );
    const demoApp = specs.find((spec) => spec.name === "demo-app");
    assert.ok(demoApp);
    assert.deepEqual(dockerBuildArgv(demoApp, "127.0.0.1:5000/switchyard/node@sha256:ab", "/ctx"), [
      "docker",
      "build",
      "--build-arg",
      "BASE=127.0.0.1:5000/switchyard/node@sha256:ab",
      "--tag",
      "127.0.0.1:5000/switchyard/demo-app:1.0.0",
      "/ctx",
    ]);
  });

  it("builds the systemd host on debian, under no official name, booting systemd and enabling no sshd", () => {
    const spec = imageSpecs("1.0.0").find((image) => image.name === "systemd-host");
    assert.deepEqual(spec, {
      name: "systemd-host",
      tag: "trixie",
      context: "engine/images/systemd-host",
      base: "debian",
    });
    const dockerfile = fs.readFileSync(path.join(repoRoot, "engine/images/systemd-host/Dockerfile"), "utf8");
    assert.match(dockerfile, /^STOPSIGNAL SIGRTMIN\+3$/m);
    assert.match(dockerfile, /^CMD \["\/sbin\/init"\]$/m);
    // It shares the network of the machine it runs on: Debian's sshd would take port 22 there.
    assert.match(dockerfile, /systemctl disable ssh\.service/);
    assert.match(dockerfile, /systemctl mask ssh\.socket/);
  });

  it("builds the s3 image from the stand-in binary as MinIO's /usr/bin/minio, with an mc that knows `mc ready local`", () => {
    const spec = imageSpecs("1.0.0").find((image) => image.name === "s3");
    // No official name: MinIO's tags are RELEASE dates this is none of, and stacks pin it by digest.
    assert.deepEqual(spec, {
      name: "s3",
      tag: "trixie",
      context: "engine/images/s3",
      base: "debian",
      binaries: [s3Standin.name],
    });
    const dockerfile = fs.readFileSync(path.join(repoRoot, "engine/images/s3/Dockerfile"), "utf8");
    assert.match(dockerfile, /^COPY bin\/s3-standin \/usr\/bin\/minio$/m);
    assert.match(dockerfile, /^COPY mc \/usr\/bin\/mc$/m);
    assert.match(dockerfile, /install -y --no-install-recommends curl/);
    assert.match(dockerfile, /^ENTRYPOINT \["minio"\]$/m);
    assert.match(dockerfile, /^VOLUME \["\/data"\]$/m);
    assert.match(dockerfile, /^EXPOSE 9000$/m);
    assert.doesNotMatch(dockerfile, /^USER /m, "root, like MinIO's image");
  });

  it("builds the caddy image from the built binary, laid out like the official caddy:2.11", () => {
    const spec = imageSpecs("1.0.0").find((image) => image.name === "caddy");
    assert.deepEqual(spec, {
      name: "caddy",
      tag: "2.11-trixie",
      context: "engine/images/caddy",
      base: "debian",
      official: "caddy:2.11",
      binaries: [caddy.name],
    });
    const dockerfile = fs.readFileSync(path.join(repoRoot, "engine/images/caddy/Dockerfile"), "utf8");
    assert.match(dockerfile, /^COPY bin\/caddy \/usr\/bin\/caddy$/m);
    assert.match(dockerfile, /^COPY Caddyfile \/etc\/caddy\/Caddyfile$/m);
    assert.match(dockerfile, /^ENV XDG_CONFIG_HOME=\/config XDG_DATA_HOME=\/data$/m);
    assert.match(dockerfile, /mkdir -p \/config\/caddy \/data\/caddy \/etc\/caddy/);
    assert.match(dockerfile, /^EXPOSE 80 443 443\/udp 2019$/m);
    assert.match(dockerfile, /^WORKDIR \/srv$/m);
    assert.match(
      dockerfile,
      /^CMD \["caddy", "run", "--config", "\/etc\/caddy\/Caddyfile", "--adapter", "caddyfile"\]$/m,
    );
    assert.doesNotMatch(
      dockerfile,
      /^(USER|ENTRYPOINT) /m,
      "root and no entrypoint, like the official image",
    );
    const caddyfile = fs.readFileSync(path.join(repoRoot, "engine/images/caddy/Caddyfile"), "utf8");
    assert.match(caddyfile, /^:80 \{$/m, "plain HTTP only: no site address that would ask for a certificate");
  });

  it("answers the example's healthcheck `mc ready local` by MinIO's liveness path, and nothing else", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-mc-"));
    try {
      // A curl that prints the status code it is told and records what it was asked.
      fs.writeFileSync(
        path.join(dir, "curl"),
        `#!/bin/sh\necho "$*" > "${dir}/asked"\nprintf '%s' "$CODE"\n`,
        { mode: 0o755 },
      );
      const mc = (args: string[], code: string) => {
        try {
          execFileSync("sh", [path.join(repoRoot, "engine/images/s3/mc"), ...args], {
            env: { PATH: `${dir}:/usr/bin:/bin`, CODE: code },
            stdio: ["ignore", "pipe", "pipe"],
          });
          return 0;
        } catch (error) {
          return (error as { status: number }).status;
        }
      };
      assert.equal(mc(["ready", "local"], "200"), 0);
      assert.match(
        fs.readFileSync(path.join(dir, "asked"), "utf8"),
        /http:\/\/127\.0\.0\.1:9000\/minio\/health\/live$/m,
      );
      assert.equal(mc(["ready", "local"], "503"), 1);
      assert.equal(mc(["ready", "local"], "000"), 1, "nothing listening");
      fs.rmSync(path.join(dir, "asked"));
      for (const args of [["ready"], ["ready", "other"], ["ls", "local"], ["ready", "local", "--json"]]) {
        assert.equal(mc(args, "200"), 2, args.join(" "));
        assert.ok(!fs.existsSync(path.join(dir, "asked")), "it asked nothing");
      }
      assert.ok(fs.statSync(path.join(repoRoot, "engine/images/s3/mc")).mode & 0o111, "mc is executable");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("builds from a copy of the context with the binaries an image names from .engine/bin, removed after", () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-context-"));
    try {
      const local = engineLayout(root, { SWITCHYARD_CACHE: path.join(root, "cache") });
      fs.mkdirSync(path.join(root, "engine/images/s3"), { recursive: true });
      fs.writeFileSync(path.join(root, "engine/images/s3/Dockerfile"), "FROM x\n");
      const spec = imageSpecs("1.0.0").find((image) => image.name === "s3");
      assert.ok(spec);
      assert.throws(
        () => buildContext(local, spec),
        /s3 copies .*\/\.engine\/bin\/s3-standin, which npm run engine has not built/,
      );
      fs.mkdirSync(local.bin, { recursive: true });
      fs.writeFileSync(path.join(local.bin, "s3-standin"), "binary", { mode: 0o755 });
      const context = buildContext(local, spec);
      assert.notEqual(context.dir, path.join(root, "engine/images/s3"));
      assert.deepEqual(fs.readdirSync(context.dir).sort(), ["Dockerfile", "bin"]);
      assert.equal(fs.readFileSync(path.join(context.dir, "bin/s3-standin"), "utf8"), "binary");
      assert.ok(fs.statSync(path.join(context.dir, "bin/s3-standin")).mode & 0o100);
      context.cleanup();
      assert.ok(!fs.existsSync(context.dir));
      // An image without binaries (and not debian) builds from its directory itself.
      const redis = imageSpecs("1.0.0").find((image) => image.name === "redis");
      assert.ok(redis);
      assert.equal(buildContext(local, redis).dir, path.join(root, "engine/images/redis"));
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it("builds Prometheus from Debian's package with the official image's command line, user, volume and wget", () => {
    const spec = imageSpecs("1.0.0").find((image) => image.name === "prometheus");
    assert.deepEqual(spec, {
      name: "prometheus",
      tag: "trixie",
      context: "engine/images/prometheus",
      base: "debian",
    });
    const dockerfile = fs.readFileSync(path.join(repoRoot, "engine/images/prometheus/Dockerfile"), "utf8");
    assert.match(dockerfile, /install -y --no-install-recommends prometheus wget/);
    assert.match(dockerfile, /^ENTRYPOINT \["\/bin\/prometheus"\]$/m);
    assert.match(
      dockerfile,
      /^CMD \["--config\.file=\/etc\/prometheus\/prometheus\.yml", "--storage\.tsdb\.path=\/prometheus"\]$/m,
    );
    assert.match(dockerfile, /^USER nobody$/m);
    assert.match(dockerfile, /chown 65534:65534 \/prometheus/);
    assert.match(dockerfile, /^VOLUME \["\/prometheus"\]$/m);
    assert.match(dockerfile, /^EXPOSE 9090$/m);
    const config = parseYaml(
      fs.readFileSync(path.join(repoRoot, "engine/images/prometheus/prometheus.yml"), "utf8"),
    ) as { scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[] };
    assert.deepEqual(config.scrape_configs, [
      { job_name: "prometheus", static_configs: [{ targets: ["localhost:9090"] }] },
    ]);
  });

  it("gives official names to every image the dev stack and the demo app's Dockerfile name", () => {
    const stack = parseYaml(fs.readFileSync(path.join(repoRoot, "Pulumi.dev.yaml"), "utf8")) as {
      config: Record<string, { image?: string }>;
    };
    const named = ["switchyard:database", "switchyard:redis", "switchyard:router"].map(
      (key) => stack.config[key]?.image,
    );
    const dockerfile = fs.readFileSync(path.join(repoRoot, "examples/demo-app/Dockerfile"), "utf8");
    named.push(/^ARG BASE=(\S+)$/m.exec(dockerfile)?.[1]);
    const officials = imageSpecs("1.0.0").map((spec) => spec.official);
    assert.deepEqual(
      named.filter((image) => !officials.includes(image)),
      [],
    );
  });

  it("takes the registry's digest of an image, not another repository's", () => {
    const digest = `sha256:${"a".repeat(64)}`;
    const repository = repositoryOf("postgres");
    assert.equal(
      pinnedReference([`ghcr.io/x/postgres@${digest}`, `${repository}@${digest}`], repository),
      `${repository}@${digest}`,
    );
    assert.equal(pinnedReference([`${repository}-old@${digest}`], repository), undefined);
    assert.equal(pinnedReference([`${repository}@sha256:abc`], repository), undefined);
    assert.equal(pinnedReference([], repository), undefined);
  });
});

describe("engine steps", () => {
  const quiet = () => {
    const lines: string[] = [];
    return { lines, print: (line: string) => lines.push(line) };
  };

  it("says what each step does before and after, with how it ended and how long it took", async () => {
    const logs = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-steps-"));
    const out = quiet();
    const steps: Step[] = [
      {
        id: "a",
        title: "First",
        run: async () => ({ outcome: "built", detail: "made", figures: { sizeMb: 3 } }),
      },
      { id: "b", title: "Second", run: async () => ({ outcome: "cached", detail: "from the cache" }) },
    ];
    const records = await runSteps(steps, { logs, print: out.print });
    assert.deepEqual(
      records.map((record) => [record.id, record.outcome, record.figures]),
      [
        ["a", "built", { sizeMb: 3 }],
        ["b", "cached", undefined],
      ],
    );
    assert.equal(out.lines[0], "▸ First");
    assert.match(out.lines[1], /^✓ First: made \(built, \d+\.\d s\)$/);
    assert.match(out.lines[3], /^✓ Second: from the cache \(cached, \d+\.\d s\)$/);
    fs.rmSync(logs, { recursive: true });
  });

  it("stops at the first failure, naming the step and its log, and runs nothing after it", async () => {
    const logs = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-steps-"));
    const out = quiet();
    let ranAfter = false;
    const steps: Step[] = [
      {
        id: "boom",
        title: "Breaking step",
        run: async (context) => {
          fs.appendFileSync(context.log, "details\n");
          throw new Error("it broke");
        },
      },
      { id: "after", title: "After", run: async () => ((ranAfter = true), { outcome: "built", detail: "" }) },
    ];
    await assert.rejects(runSteps(steps, { logs, print: out.print }), /Breaking step failed: it broke/);
    assert.equal(ranAfter, false);
    assert.match(out.lines.join("\n"), /✗ Breaking step failed after .*: it broke\n {2}log: .*boom\.log/);
    assert.equal(fs.readFileSync(path.join(logs, "boom.log"), "utf8"), "details\n");
    fs.rmSync(logs, { recursive: true });
  });

  it("shows a heartbeat with the step's status while it runs", async () => {
    const logs = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-steps-"));
    const out = quiet();
    const slow: Step = {
      id: "slow",
      title: "Slow step",
      run: async (context) => {
        context.status("12 packages compiled");
        await new Promise((resolve) => setTimeout(resolve, 60));
        return { outcome: "built", detail: "done" };
      },
    };
    await runSteps([slow], { logs, print: out.print, heartbeatMs: 20 });
    assert.ok(out.lines.some((line) => /^ {2}… Slow step: \d+\.\d s, 12 packages compiled$/.test(line)));
    fs.rmSync(logs, { recursive: true });
  });

  it("formats durations for people", () => {
    assert.equal(formatSeconds(4.25), "4.3 s");
    assert.equal(formatSeconds(59.94), "59.9 s");
    assert.equal(formatSeconds(61), "1 min 01 s");
    assert.equal(formatSeconds(754.6), "12 min 35 s");
  });
});
