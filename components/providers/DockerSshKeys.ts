import * as pulumi from "@pulumi/pulumi";
import { BundledResource, bundledProvider } from "./bundledProvider";
import type { ArgsOf } from "./inputs";
import type { Target } from "../target";
import { writeDockerSshKeys } from "./sshKeyFiles";

export interface DockerSshKeysInputs {
  target: Extract<Target, { kind: "ssh" }>;
  stack: string;
  /** The deploy user's private key (a secret). */
  privateKey: string;
}

/**
 * `pulumi destroy` runs no program, so nothing would write the key files the Docker provider's
 * ssh reads. This resource depends on every resource of the deployment, so a destroy deletes it
 * first: its delete writes them, and they go when the command ends, as after `up`.
 */
export const dockerSshKeysProvider: pulumi.dynamic.ResourceProvider = {
  async create(inputs: DockerSshKeysInputs) {
    return { id: inputs.stack, outs: inputs };
  },
  async update(_id, _olds, news: DockerSshKeysInputs) {
    return { outs: news };
  },
  async delete(_id, props: DockerSshKeysInputs) {
    writeDockerSshKeys(props.target, props.stack, props.privateKey);
  },
};

export type DockerSshKeysArgs = ArgsOf<DockerSshKeysInputs>;

export class DockerSshKeys extends BundledResource {
  constructor(name: string, args: DockerSshKeysArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      bundledProvider(__filename, { dockerSshKeysProvider }),
      name,
      { ...args, privateKey: pulumi.secret(args.privateKey) },
      opts,
      "switchyard",
      "DockerSshKeys",
    );
  }
}
