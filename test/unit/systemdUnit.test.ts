import assert from "node:assert/strict";
import fc from "fast-check";
import { SystemdService, type SystemdServiceInputs } from "../../components/providers/SystemdService";
import {
  asRoot,
  environmentFile,
  type NativeService,
  parseShow,
  servicePaths,
  unitFile,
} from "../../components/providers/systemdUnit";
import { callSerializedProvider, providerTextOf } from "../support/dynamicProvider";

const service: NativeService = {
  unit: "ph-stage-blue",
  user: "switchyard",
  directory: "/opt/switchyard",
  version: "1.12.0",
  sha256: "ab".repeat(32),
  resources: { memoryMb: 256, cpus: 0.5 },
  restartPolicy: "unless-stopped",
};

/**
 * systemd's reading of an EnvironmentFile line of the form `NAME="..."` (systemd.exec(5), "EnvironmentFile="):
 * inside double quotes a backslash escapes `\`, `"`, `` ` `` and `$`, and stands for itself before
 * anything else; a quoted value may span lines.
 */
function readEnvironmentFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  let at = 0;
  while (at < text.length) {
    const equals = text.indexOf("=", at);
    const name = text.slice(at, equals);
    assert.equal(text[equals + 1], '"', `${name} is double-quoted`);
    let value = "";
    let index = equals + 2;
    for (; text[index] !== '"'; index++) {
      if (text[index] === "\\" && '\\"`$'.includes(text[index + 1])) index++;
      value += text[index];
    }
    env[name] = value;
    assert.equal(text[index + 1], "\n");
    at = index + 2;
  }
  return env;
}

describe("a native slot's files", () => {
  it("keeps each release in a directory of its version and binary, and the environment outside the user's reach", () => {
    assert.deepEqual(servicePaths(service), {
      slotDirectory: "/opt/switchyard/ph-stage-blue",
      releases: "/opt/switchyard/ph-stage-blue/releases",
      release: "/opt/switchyard/ph-stage-blue/releases/1.12.0-abababababab",
      binary: "/opt/switchyard/ph-stage-blue/releases/1.12.0-abababababab/app",
      unitFile: "/etc/systemd/system/ph-stage-blue.service",
      environmentFile: "/etc/switchyard/ph-stage-blue.env",
    });
  });

  it("runs the release's binary hardened, as the dedicated user, within the slot's limits", () => {
    const unit = unitFile(service).split("\n");
    for (const line of [
      "User=switchyard",
      "ExecStart=/opt/switchyard/ph-stage-blue/releases/1.12.0-abababababab/app",
      "EnvironmentFile=/etc/switchyard/ph-stage-blue.env",
      "Restart=always",
      "MemoryMax=256M",
      "CPUQuota=50%",
      "NoNewPrivileges=yes",
      "ProtectSystem=strict",
      "ProtectHome=yes",
      "PrivateTmp=yes",
      "WantedBy=multi-user.target",
    ])
      assert.ok(unit.includes(line), line);
    assert.ok(unitFile({ ...service, restartPolicy: "on-failure" }).includes("\nRestart=on-failure\n"));
  });

  it("writes an environment file systemd reads back as the same values, whatever they hold", () => {
    const name = fc.stringMatching(/^[A-Z_][A-Z0-9_]{0,15}$/);
    fc.assert(
      // Any text but NUL, which no environment can hold.
      fc.property(
        fc.dictionary(
          name,
          fc.string({ unit: "binary" }).filter((v) => !v.includes("\0")),
        ),
        (env) => {
          assert.deepEqual(readEnvironmentFile(environmentFile(env)), { ...env });
        },
      ),
    );
    assert.equal(environmentFile({ A: 'say "$HOME"\\`' }), 'A="say \\"\\$HOME\\"\\\\\\`"\n');
  });

  it("runs as root through sudo only when the SSH user is not root", () => {
    const argv = asRoot(["systemctl", "daemon-reload"]);
    assert.deepEqual(argv.slice(0, 2), ["sh", "-c"]);
    assert.match(argv[2], /sudo -n "\$@"/);
    assert.deepEqual(argv.slice(3), ["sh", "systemctl", "daemon-reload"]);
  });

  it("reads systemctl show's lines, values with = included", () => {
    assert.deepEqual(parseShow("LoadState=loaded\nActiveState=active\nInvocationID=a=b\n"), {
      LoadState: "loaded",
      ActiveState: "active",
      InvocationID: "a=b",
    });
  });
});

const inputs: SystemdServiceInputs = {
  ...service,
  executor: { kind: "local" },
  binaryPath: "/build/api",
  env: { DATABASE_URL: "postgres://u:p@127.0.0.1:15432/d" },
};

describe("SystemdService, loaded from its serialized form", () => {
  let text: string;
  before(async () => {
    text = await providerTextOf(() => new SystemdService("slot", inputs));
  });

  it("names each malformed input", async () => {
    const answer = (await callSerializedProvider(
      text,
      "check",
      {},
      {
        ...inputs,
        unit: "Blue Slot",
        sha256: "abc",
        directory: "opt",
      },
    )) as { failures: { property: string }[] };
    assert.deepEqual(
      answer.failures.map((failure) => failure.property),
      ["unit", "sha256", "directory"],
    );
  });

  it("restarts the unit for what it runs, or when it was found stopped, never for how the host is reached", async () => {
    const olds = { ...inputs, invocationId: "a1" };
    const diff = async (news: SystemdServiceInputs, old = olds) =>
      ((await callSerializedProvider(text, "diff", "ph-stage-blue", old, news)) as { changes: boolean })
        .changes;
    assert.equal(await diff({ ...inputs }), false);
    assert.equal(
      await diff({
        ...inputs,
        executor: { kind: "ssh", host: "h", port: 22, user: "u", hostKey: "k", privateKey: "p" },
      }),
      false,
    );
    assert.equal(await diff({ ...inputs, version: "1.12.1" }), true);
    assert.equal(await diff({ ...inputs, env: { DATABASE_URL: "postgres://other" } }), true);
    assert.equal(await diff({ ...inputs }, { ...olds, invocationId: "" }), true);

    const answer = (await callSerializedProvider(text, "diff", "ph-stage-blue", olds, {
      ...inputs,
      unit: "ph-production-blue",
    })) as { replaces: string[]; deleteBeforeReplace: boolean };
    assert.deepEqual(answer.replaces, ["unit"]);
    assert.equal(answer.deleteBeforeReplace, true, "the old unit frees the port first");
  });
});
