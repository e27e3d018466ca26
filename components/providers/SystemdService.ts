/**
 * SystemdService: one native slot on its host, run by systemd. An update uploads the binary
 * (checked by its sha256 on arrival) into a directory of its own release, writes the environment
 * file (0600, root's) and the hardened unit, and restarts the unit; the release before it stays
 * beside it, any older one goes. `read` reports the unit as systemd has it, so `pulumi refresh`
 * sees a unit removed by hand.
 */
import * as fs from "node:fs";
import * as pulumi from "@pulumi/pulumi";
import { BundledResource, bundledProvider } from "./bundledProvider";
import { type ExecutorSpec, runChecked, withExecutor } from "./executor";
import { type ArgsOf, canonical, checked, type InputProblem } from "./inputs";
import {
  environmentFile,
  installBinaryArgv,
  type NativeService,
  parseShow,
  removeArgv,
  servicePaths,
  showArgv,
  startArgv,
  unitFile,
  writeFileArgv,
} from "./systemdUnit";

export interface SystemdServiceInputs extends NativeService {
  executor: ExecutorSpec;
  /** The binary on the machine that runs `pulumi up`, read when the slot is released. */
  binaryPath: string;
  /** Its environment, a secret: written to the environment file only. */
  env: Record<string, string>;
}

export interface SystemdServiceOutputs extends SystemdServiceInputs {
  /** systemd's id of the unit's current run: a restart (by the user, or by a crash) changes it. */
  invocationId: string;
}

/** What restarts the unit when it changes: every input but how the host is reached. */
function runningInputs(inputs: SystemdServiceInputs | SystemdServiceOutputs): unknown {
  const { executor: _executor, invocationId: _invocationId, ...rest } = inputs as SystemdServiceOutputs;
  return rest;
}

function problems(inputs: SystemdServiceInputs): InputProblem[] {
  const found: InputProblem[] = [];
  if (!/^[a-z][a-z0-9-]*$/.test(inputs.unit))
    found.push({ property: "unit", reason: "expected a unit name" });
  if (!/^[0-9a-f]{64}$/.test(inputs.sha256))
    found.push({ property: "sha256", reason: "expected a sha256 in hex" });
  if (!inputs.directory.startsWith("/"))
    found.push({ property: "directory", reason: "expected an absolute path" });
  return found;
}

async function release(
  inputs: SystemdServiceInputs,
  keep: readonly string[],
): Promise<SystemdServiceOutputs> {
  const paths = servicePaths(inputs);
  return withExecutor(inputs.executor, async (executor) => {
    await runChecked(executor, installBinaryArgv(inputs), { stdin: fs.createReadStream(inputs.binaryPath) });
    await runChecked(executor, writeFileArgv(paths.environmentFile, "0600"), {
      stdin: environmentFile(inputs.env),
    });
    await runChecked(executor, writeFileArgv(paths.unitFile, "0644"), { stdin: unitFile(inputs) });
    await runChecked(executor, startArgv(inputs, [paths.release, ...keep]));
    const shown = parseShow((await runChecked(executor, showArgv(inputs.unit))).stdout);
    return { ...inputs, invocationId: shown.InvocationID ?? "" };
  });
}

export const systemdServiceProvider: pulumi.dynamic.ResourceProvider = {
  async check(_olds, news: SystemdServiceInputs) {
    return checked(news, problems(news));
  },
  async diff(_id, olds: SystemdServiceOutputs, news: SystemdServiceInputs) {
    // A unit `read` found stopped (`invocationId` ""): the next update starts it again.
    const stopped = olds.invocationId === "";
    // Another unit or directory is another slot on the host: the old one goes first, since both
    // would listen on the slot's loopback port.
    const replaces = (["unit", "directory"] as const).filter((key) => olds[key] !== news[key]);
    return {
      changes: stopped || canonical(runningInputs(olds)) !== canonical(runningInputs(news)),
      replaces,
      deleteBeforeReplace: replaces.length > 0,
    };
  },
  async create(inputs: SystemdServiceInputs) {
    return { id: inputs.unit, outs: await release(inputs, []) };
  },
  async update(_id, olds: SystemdServiceOutputs, news: SystemdServiceInputs) {
    // The release before stays on disk, for a look at what ran before.
    return { outs: await release(news, [servicePaths(olds).release]) };
  },
  async read(id, props: SystemdServiceOutputs) {
    const shown = await withExecutor(props.executor, async (executor) =>
      parseShow((await runChecked(executor, showArgv(props.unit))).stdout),
    );
    if (shown.LoadState !== "loaded") return {};
    return {
      id,
      props: { ...props, invocationId: shown.ActiveState === "active" ? shown.InvocationID : "" },
    };
  },
  async delete(_id, olds: SystemdServiceOutputs) {
    await withExecutor(olds.executor, (executor) => runChecked(executor, removeArgv(olds)));
  },
};

export type SystemdServiceArgs = ArgsOf<SystemdServiceInputs>;

export class SystemdService extends BundledResource {
  declare readonly sha256: pulumi.Output<string>;
  declare readonly invocationId: pulumi.Output<string>;

  constructor(name: string, args: SystemdServiceArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      bundledProvider(__filename, { systemdServiceProvider }),
      name,
      {
        ...args,
        executor: pulumi.secret(args.executor),
        env: pulumi.secret(args.env),
        invocationId: undefined,
      },
      opts,
      "switchyard",
      "SystemdService",
    );
  }
}
