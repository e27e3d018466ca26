import * as pulumi from "@pulumi/pulumi";
import { BundledResource, bundledProvider } from "./bundledProvider";
import type { ArgsOf } from "./inputs";
import { type ExecutorSpec, executorTarget, withExecutor } from "./executor";

export interface TargetReachableInputs {
  /** `executorSpecFor(target, sshPrivateKey)`; it holds the secret key. */
  executor: ExecutorSpec;
}

/**
 * One SSH connection before the Docker provider or any command reaches the VPS: `check` runs on
 * every preview and update, so a wrong pinned host key (both fingerprints named) or a refused key
 * fails the run here, before anything on the VPS changes, rather than as one ssh error per resource.
 */
export const targetReachableProvider: pulumi.dynamic.ResourceProvider = {
  async check(_olds, news: TargetReachableInputs) {
    await withExecutor(news.executor, async () => undefined);
    return { inputs: news };
  },
  async create(inputs: TargetReachableInputs) {
    return { id: executorTarget(inputs.executor), outs: inputs };
  },
  async update(_id, _olds, news: TargetReachableInputs) {
    return { outs: news };
  },
};

export type TargetReachableArgs = ArgsOf<TargetReachableInputs>;

export class TargetReachable extends BundledResource {
  constructor(name: string, args: TargetReachableArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      bundledProvider(__filename, { targetReachableProvider }),
      name,
      { executor: pulumi.secret(args.executor) },
      opts,
      "switchyard",
      "TargetReachable",
    );
  }
}
