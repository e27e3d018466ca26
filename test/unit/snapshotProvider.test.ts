/**
 * PgSnapshot's provider decisions (check, diff, update) called directly, and its registration
 * under Pulumi mocks: type token and secrecy. The dumps themselves are in
 * test/integration/snapshot.test.ts.
 */
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import {
  PgSnapshot,
  type PgSnapshotInputs,
  type PgSnapshotOutputs,
  pgSnapshotProvider,
} from "../../components/providers/PgSnapshot";
import { isSecretValue } from "../support/program";

const privateKey = generateKeyPairSync("ed25519")
  .privateKey.export({ format: "pem", type: "pkcs8" })
  .toString();
const password = "db-Pa55word-for-tests";

const inputs: PgSnapshotInputs = {
  executor: {
    kind: "ssh",
    host: "203.0.113.10",
    port: 22,
    user: "deploy",
    hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPe9xL+pkN3bwDz+XnNiOzL88XLhgPnWnIbHBLLuI96+",
    privateKey,
  },
  project: "switchyard",
  stack: "production",
  directory: "/var/backups/switchyard/shop",
  retention: 14,
  commandPrefix: ["docker", "exec", "-i", "postgres"],
  user: "shop",
  database: "shop",
  password,
  migrationSet: "2026-11-20-041",
  image: "sha256:cb614d57a246bb0ab86114ed111333c235bd0662f5ecc8ecac49fee4df75e003",
};

const outputs: PgSnapshotOutputs = {
  ...inputs,
  path: "/var/backups/switchyard/shop/switchyard_production_20261120T101500.000Z_2026-11-20-041.dump",
  fileName: "switchyard_production_20261120T101500.000Z_2026-11-20-041.dump",
  size: 123456,
  sha256: "a".repeat(64),
  startedAt: "2026-11-20T10:15:00.000Z",
  finishedAt: "2026-11-20T10:15:03.000Z",
  serverVersion: "16.4 (Debian 16.4-1.pgdg120+1)",
};

const provider = pgSnapshotProvider as Required<typeof pgSnapshotProvider>;

describe("PgSnapshot provider", () => {
  describe("check", () => {
    it("accepts a production-shaped snapshot", async () => {
      assert.deepEqual(await provider.check({} as PgSnapshotInputs, inputs), {
        inputs,
        failures: [],
      });
    });

    const cases: [string, Partial<Record<keyof PgSnapshotInputs, unknown>>, RegExp][] = [
      ["relative directory", { directory: "backups" }, /^directory: expected an absolute path/],
      ["directory climbing out", { directory: "/var/backups/../../etc" }, /^directory: .*'\.\.'/],
      ["retention 0", { retention: 0 }, /^retention: expected 1-1000, got 0/],
      ["retention 2.5", { retention: 2.5 }, /^retention: /],
      ["stack with a slash", { stack: "acme/production" }, /^stack: expected letters/],
      ["database with a quote", { database: 'shop"; drop' }, /^database: expected a PostgreSQL identifier/],
      ["user missing", { user: undefined }, /^user: /],
      ["empty prefix word", { commandPrefix: ["docker", ""] }, /^commandPrefix: /],
      ["port 0", { port: 0 }, /^port: expected a port 1-65535/],
      ["host with a space", { host: "db host" }, /^host: /],
      ["empty migration set", { migrationSet: "" }, /^migrationSet: expected a non-empty string/],
      ["image missing", { image: undefined }, /^image: /],
      [
        "unknown executor kind",
        { executor: { kind: "telnet" } },
        /^executor: expected kind "local" or "ssh"/,
      ],
      [
        "unpinned host key",
        { executor: { ...inputs.executor, hostKey: "anything" } },
        /^executor: ssh needs a pinned hostKey/,
      ],
      [
        "no private key",
        { executor: { ...inputs.executor, privateKey: "" } },
        /^executor: ssh needs a privateKey/,
      ],
      ["password not a string", { password: 42 }, /^password: expected a string$/],
      ["password with a line break", { password: `${password}\nsecond` }, /^password: contains a line break/],
    ];
    for (const [title, change, expected] of cases) {
      it(`names the bad input: ${title}`, async () => {
        const news = { ...inputs, ...change } as PgSnapshotInputs;
        const { failures = [] } = await provider.check({} as PgSnapshotInputs, news);
        assert.equal(failures.length, 1, JSON.stringify(failures));
        assert.match(`${failures[0].property}: ${failures[0].reason}`, expected);
        for (const failure of failures) {
          assert.ok(
            !failure.reason.includes(password) && !failure.reason.includes("PRIVATE KEY"),
            failure.reason,
          );
        }
      });
    }
  });

  describe("diff", () => {
    it("reports nothing when the inputs are the stored ones, whatever the key order", async () => {
      const reordered = {
        ...outputs,
        executor: Object.fromEntries(Object.entries(inputs.executor).reverse()),
      } as PgSnapshotOutputs;
      assert.deepEqual(await provider.diff("id", reordered, inputs), {
        changes: false,
        replaces: [],
        deleteBeforeReplace: false,
      });
    });

    it("takes a new snapshot (replaces) when the migration set or the image changes", async () => {
      assert.deepEqual(
        (
          await provider.diff("id", outputs, {
            ...inputs,
            migrationSet: "2026-11-27-042",
          })
        ).replaces,
        ["migrationSet"],
      );
      assert.deepEqual((await provider.diff("id", outputs, { ...inputs, image: "sha256:ff" })).replaces, [
        "image",
      ]);
    });

    for (const [title, change] of [
      ["retention", { retention: 7 }],
      ["directory", { directory: "/srv/backups" }],
      ["rotated password", { password: "rotated" }],
      [
        "rotated ssh key",
        {
          executor: {
            ...inputs.executor,
            privateKey: "-----BEGIN PRIVATE KEY-----\nx",
          },
        },
      ],
    ] as const) {
      it(`updates in place, without a new dump, for ${title}`, async () => {
        const diff = await provider.diff("id", outputs, {
          ...inputs,
          ...change,
        } as PgSnapshotInputs);
        assert.equal(diff.changes, true);
        assert.deepEqual(diff.replaces, []);
      });
    }

    it("keeps the taken snapshot's outputs on update and records the new settings", async () => {
      const { outs } = await provider.update("id", outputs, {
        ...inputs,
        retention: 7,
      });
      assert.deepEqual(outs, { ...outputs, retention: 7 });
    });
  });

  describe("registration", () => {
    interface Registered {
      type: string;
      inputs: Record<string, unknown>;
      additionalSecretOutputs: string[];
    }

    /** Registers one PgSnapshot under mocks and returns what the engine would receive. */
    async function register(args: ConstructorParameters<typeof PgSnapshot>[1]): Promise<Registered> {
      let registered: Registered | undefined;
      await pulumi.runtime.setMocks(
        {
          newResource: (mock) => ({
            id: `${mock.name}-id`,
            state: mock.inputs,
          }),
          call: (mock) => mock.inputs,
        },
        "switchyard",
        "production",
        false,
      );
      const monitor = pulumi.runtime.getMonitor() as unknown as {
        registerResource(
          req: RegisterRequest,
          callback: (error: Error | null, response?: unknown) => void,
        ): void;
      };
      const original = monitor.registerResource.bind(monitor);
      monitor.registerResource = (req, callback) => {
        registered = {
          type: req.getType(),
          inputs: pulumi.runtime.deserializeProperties(req.getObject() as never),
          additionalSecretOutputs: req.getAdditionalsecretoutputsList(),
        };
        original(req, callback);
      };
      const snapshot = new PgSnapshot("db-snapshot", args);
      await new Promise((resolve) => snapshot.urn.apply(resolve));
      if (!registered) throw new Error("nothing was registered");
      return registered;
    }

    interface RegisterRequest {
      getType(): string;
      getObject(): unknown;
      getAdditionalsecretoutputsList(): string[];
    }

    it("is a switchyard dynamic resource whose password and executor stay secret", async () => {
      const { project: _project, stack: _stack, ...args } = inputs;
      const registered = await register({
        ...args,
        executor: pulumi.secret(inputs.executor),
      });
      assert.equal(registered.type, "pulumi-nodejs:dynamic/switchyard:PgSnapshot");
      assert.ok(
        isSecretValue(registered.inputs.password),
        "password is a secret input even when given plain",
      );
      assert.ok(isSecretValue(registered.inputs.executor));
      assert.deepEqual(registered.additionalSecretOutputs.sort(), ["executor", "password"]);
      assert.equal(registered.inputs.project, "switchyard", "project defaults to the Pulumi project");
      assert.equal(registered.inputs.stack, "production", "stack defaults to the Pulumi stack");
      assert.equal(registered.inputs.migrationSet, inputs.migrationSet);
      const providerText = String(registered.inputs.__provider);
      assert.match(
        providerText,
        /components\/providers\/PgSnapshot\.ts/,
        "the provider's own code is in the text",
      );
      assert.ok(!providerText.includes(password), "the password is an input, never part of the provider");
    });
  });
});
