import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import fc from "fast-check";
import {
  conformance,
  type PackageShape,
  type PulumiSchema,
  schemaPackage,
  sdkPackage,
  sdkTypeName,
} from "../../engine/conformance";
import { repoRoot } from "../../engine/layout";

/** A one-resource SDK, written the way Pulumi's codegen writes a package. */
function writeSdk(dir: string): void {
  fs.mkdirSync(path.join(dir, "types", "enums"), { recursive: true });
  fs.mkdirSync(path.join(dir, "config"));
  fs.writeFileSync(
    path.join(dir, "box.d.ts"),
    `import * as pulumi from "@pulumi/pulumi";
import * as inputs from "./types/input";
import * as outputs from "./types/output";
import * as enums from "./types/enums";
export declare class Box extends pulumi.CustomResource {
    static get(name: string, id: pulumi.Input<pulumi.ID>, state?: BoxState, opts?: pulumi.CustomResourceOptions): Box;
    readonly name: pulumi.Output<string>;
    readonly size: pulumi.Output<number | undefined>;
    readonly labels: pulumi.Output<{
        [key: string]: string;
    } | undefined>;
    readonly ports: pulumi.Output<outputs.BoxPort[] | undefined>;
    readonly token: pulumi.Output<string>;
    constructor(name: string, args: BoxArgs, opts?: pulumi.CustomResourceOptions);
}
export interface BoxState {
    name?: pulumi.Input<string | undefined>;
}
export interface BoxArgs {
    name: pulumi.Input<string>;
    size?: pulumi.Input<number | undefined>;
    ports?: pulumi.Input<pulumi.Input<inputs.BoxPort>[] | undefined>;
    password?: pulumi.Input<string | undefined>;
    colour?: pulumi.Input<string | enums.Colour | undefined>;
    archive?: pulumi.Input<pulumi.asset.Archive | undefined>;
}
`,
  );
  fs.writeFileSync(
    path.join(dir, "box.js"),
    `class Box extends pulumi.CustomResource {
    static __pulumiType = 'toy:index/box:Box';
    constructor(name, argsOrState, opts) {
            resourceInputs["password"] = args?.password ? pulumi.secret(args.password) : undefined;
            resourceInputs["size"] = args?.size;
        const secretOpts = { additionalSecretOutputs: ["token"] };
    }
}`,
  );
  fs.writeFileSync(
    path.join(dir, "getBox.d.ts"),
    `export declare function getBox(args: GetBoxArgs, opts?: pulumi.InvokeOptions): Promise<GetBoxResult>;
export interface GetBoxArgs {
    name: string;
}
export interface GetBoxResult {
    readonly id: string;
    readonly ports: outputs.GetBoxPort[];
}
`,
  );
  fs.writeFileSync(path.join(dir, "getBox.js"), `return pulumi.runtime.invoke("toy:index/getBox:getBox", {`);
  fs.writeFileSync(
    path.join(dir, "types", "input.d.ts"),
    `export interface BoxPort {
    internal: pulumi.Input<number>;
    external?: pulumi.Input<number | undefined>;
}
export declare namespace config {
}
`,
  );
  fs.writeFileSync(
    path.join(dir, "types", "output.d.ts"),
    `export interface BoxPort {
    internal: number;
    external: number;
}
export interface GetBoxPort {
    internal: number;
}
export declare namespace config {
    interface Registry {
        address: string;
    }
}
`,
  );
  fs.writeFileSync(
    path.join(dir, "types", "enums", "index.d.ts"),
    `export declare const Colour: {
    readonly Red: "red";
    readonly Blue: "blue";
};
export type Colour = (typeof Colour)[keyof typeof Colour];
`,
  );
  fs.writeFileSync(
    path.join(dir, "config", "vars.d.ts"),
    `export declare const host: string | undefined;
export declare const registries: outputs.config.Registry[] | undefined;
`,
  );
}

/** The schema a plugin with the same surface would give. */
function toySchema(): PulumiSchema {
  return {
    name: "toy",
    config: {
      variables: {
        host: { type: "string" },
        registries: { type: "array", items: { $ref: "#/types/toy:config/registry:registry" } },
      },
    },
    resources: {
      "toy:index/box:Box": {
        properties: {
          name: { type: "string" },
          size: { type: "integer" },
          labels: { type: "object", additionalProperties: { type: "string" } },
          ports: { type: "array", items: { $ref: "#/types/toy:index/BoxPort:BoxPort" } },
          token: { type: "string", secret: true },
          extra: { type: "string" },
        },
        required: ["name", "token"],
        inputProperties: {
          name: { type: "string" },
          size: { type: "integer" },
          ports: { type: "array", items: { $ref: "#/types/toy:index/BoxPort:BoxPort" } },
          password: { type: "string", secret: true },
          colour: { $ref: "#/types/toy:index/Colour:Colour" },
          archive: { $ref: "pulumi.json#/Archive" },
        },
        requiredInputs: ["name"],
        stateInputs: { properties: { name: { type: "string" } } },
      },
    },
    functions: {
      "toy:index/getBox:getBox": {
        inputs: { properties: { name: { type: "string" } }, required: ["name"] },
        outputs: {
          properties: {
            id: { type: "string" },
            ports: { type: "array", items: { $ref: "#/types/toy:index/getBoxPort:getBoxPort" } },
          },
          required: ["id", "ports"],
        },
      },
    },
    types: {
      "toy:index/BoxPort:BoxPort": {
        type: "object",
        properties: { internal: { type: "integer" }, external: { type: "integer" } },
        required: ["internal"],
        language: { nodejs: { requiredOutputs: ["internal", "external"] } },
      },
      "toy:index/getBoxPort:getBoxPort": {
        type: "object",
        properties: { internal: { type: "integer" } },
        required: ["internal"],
      },
      "toy:index/Colour:Colour": { type: "string", enum: [{ value: "red" }, { value: "blue" }] },
      "toy:config/registry:registry": {
        type: "object",
        properties: { address: { type: "string" } },
        required: ["address"],
      },
    },
  };
}

describe("plugin conformance", () => {
  let dir: string;
  let sdk: PackageShape;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-sdk-"));
    writeSdk(dir);
    sdk = sdkPackage(dir);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("names schema types the way the SDK does", () => {
    assert.equal(sdkTypeName("docker:index/ContainerPort:ContainerPort"), "ContainerPort");
    assert.equal(sdkTypeName("docker:index/getNetworkContainer:getNetworkContainer"), "GetNetworkContainer");
    assert.equal(sdkTypeName("docker:config/registryAuth:registryAuth"), "config.RegistryAuth");
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z][A-Za-z0-9]{0,20}$/), (name) => {
        const capitalized = `${name.charAt(0).toUpperCase()}${name.slice(1)}`;
        assert.equal(sdkTypeName(`p:index/${name}:${name}`), capitalized);
        assert.equal(sdkTypeName(`p:config/${name}:${name}`), `config.${capitalized}`);
      }),
    );
  });

  it("reads an SDK's declarations: tokens, types, optionality and secrets", () => {
    const box = sdk.resources["toy:index/box:Box"];
    assert.deepEqual(box.inputs.name, { type: { kind: "string" }, required: true, secret: false });
    assert.deepEqual(box.inputs.size, { type: { kind: "number" }, required: false, secret: false });
    assert.deepEqual(box.inputs.ports.type, { kind: "array", of: { kind: "ref", name: "BoxPort" } });
    assert.equal(box.inputs.password.secret, true);
    assert.deepEqual(box.inputs.colour.type, { kind: "ref", name: "Colour" });
    assert.deepEqual(box.inputs.archive.type, { kind: "archive" });
    assert.deepEqual(box.outputs.labels, {
      type: { kind: "map", of: { kind: "string" } },
      required: false,
      secret: false,
    });
    assert.deepEqual(box.outputs.token, { type: { kind: "string" }, required: true, secret: true });
    assert.deepEqual(Object.keys(box.state), ["name"]);
    assert.deepEqual(Object.keys(sdk.functions), ["toy:index/getBox:getBox"]);
    assert.equal(sdk.types.input.BoxPort.kind, "object");
    assert.deepEqual(sdk.types.output["config.Registry"], {
      kind: "object",
      properties: { address: { type: { kind: "string" }, required: true, secret: false } },
    });
    assert.deepEqual(sdk.types.input.Colour, { kind: "enum", values: ["red", "blue"] });
    assert.deepEqual(Object.keys(sdk.config).sort(), ["host", "registries"]);
  });

  it("finds nothing missing when the plugin has all the SDK declares, and more", () => {
    assert.deepEqual(conformance(sdk, schemaPackage(toySchema())), []);
  });

  it("reports a renamed property, as when a mapping override is dropped", () => {
    const schema = toySchema();
    const box = schema.resources?.["toy:index/box:Box"];
    assert.ok(box?.inputProperties && box.properties);
    box.inputProperties.portses = box.inputProperties.ports;
    delete box.inputProperties.ports;
    assert.deepEqual(conformance(sdk, schemaPackage(schema)), [
      "toy:index/box:Box input.ports: missing from the plugin",
    ]);
  });

  it("reports each way a plugin falls short, one line each", () => {
    const schema = toySchema();
    const box = schema.resources?.["toy:index/box:Box"];
    const port = schema.types?.["toy:index/BoxPort:BoxPort"];
    assert.ok(box?.inputProperties && box.properties && port?.properties);
    box.inputProperties.size = { type: "string" };
    box.requiredInputs = ["name", "size"];
    box.inputProperties.password = { type: "string" };
    box.required = ["name"];
    port.language = { nodejs: { requiredOutputs: ["internal"] } };
    schema.types!["toy:index/Colour:Colour"] = { type: "string", enum: [{ value: "red" }] };
    delete schema.functions!["toy:index/getBox:getBox"];
    delete schema.config!.variables!.host;
    assert.deepEqual(conformance(sdk, schemaPackage(schema)), [
      "config.host: missing from the plugin",
      "input type Colour: value blue missing from the plugin",
      "output type BoxPort.external: optional in the plugin, always set in the SDK",
      "output type Colour: value blue missing from the plugin",
      "toy:index/box:Box input.password: secret in the SDK, not in the plugin",
      "toy:index/box:Box input.size: required by the plugin, optional in the SDK",
      "toy:index/box:Box input.size: string in the plugin, number in the SDK",
      "toy:index/box:Box output.token: optional in the plugin, always set in the SDK",
      "toy:index/getBox:getBox: missing from the plugin",
    ]);
  });

  it("reads the real @pulumi/docker and @pulumi/random, including the names the mapping must keep", () => {
    const docker = sdkPackage(path.join(repoRoot, "node_modules/@pulumi/docker"));
    const container = docker.resources["docker:index/container:Container"];
    for (const name of ["networksAdvanced", "command", "healthcheck", "uploads", "cpus", "memorySwap"])
      assert.ok(container.inputs[name], name);
    assert.equal(container.inputs.image.required, true);
    assert.equal(container.inputs.name.required, false);
    assert.equal(docker.resources["docker:index/remoteImage:RemoteImage"].inputs.name.required, true);
    assert.ok(docker.provider.registryAuth);
    const random = sdkPackage(path.join(repoRoot, "node_modules/@pulumi/random"));
    const password = random.resources["random:index/randomPassword:RandomPassword"];
    assert.equal(password.outputs.result.secret, true);
    assert.equal(password.inputs.length.required, true);
  });
});
