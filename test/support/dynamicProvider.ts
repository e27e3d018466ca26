/**
 * The life of a dynamic provider outside the program: the text Pulumi serializes into the
 * `__provider` input, and that text loaded and called in a fresh plain-node process the way
 * the dynamic provider host (`@pulumi/pulumi/cmd/dynamic-provider`) does. Closure
 * serialization breakage (a captured live object, a helper that does not exist at load time)
 * shows up here and nowhere under mocks.
 */
import { spawn } from "node:child_process";
import type { Readable } from "node:stream";
import * as pulumi from "@pulumi/pulumi";
import { repoRoot, reveal } from "./program";

const providerKey = "__provider";

/** How long a serialization or a provider call may take before the test fails instead of hanging. */
const serializationTimeoutMs = 30_000;
const callTimeoutMs = 120_000;

/** Registers the resource under Pulumi mocks and returns the `__provider` text the engine would store. */
export async function providerTextOf(register: () => pulumi.CustomResource): Promise<string> {
  const texts = new Map<string, unknown>();
  // Mocks are process-wide and other suites set their own, so each call installs them afresh.
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        if (providerKey in args.inputs) texts.set(args.name, args.inputs[providerKey]);
        return { id: `${args.name}-id`, state: args.inputs };
      },
      call: (args) => args.inputs,
    },
    "switchyard",
    "test",
    false,
  );
  // A serialization failure surfaces only as an unhandled rejection; without this the test hangs.
  let onRejection: ((reason: unknown) => void) | undefined;
  const failed = new Promise<never>((_, reject) => {
    onRejection = (reason) => reject(reason instanceof Error ? reason : new Error(String(reason)));
    process.on("unhandledRejection", onRejection);
  });
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`registration did not finish within ${serializationTimeoutMs} ms`)),
      serializationTimeoutMs,
    );
  });
  try {
    const resource = register();
    const urn = await Promise.race([
      new Promise<string>((resolve) => resource.urn.apply(resolve)),
      failed,
      timedOut,
    ]);
    const name = urn.slice(urn.lastIndexOf("::") + 2);
    const text = reveal(texts.get(name));
    if (typeof text !== "string") throw new Error(`${urn} was registered without a ${providerKey} input`);
    return text;
  } finally {
    clearTimeout(timer);
    if (onRejection) process.off("unhandledRejection", onRejection);
  }
}

/** Fails fast, with the serializer's own message, where a registration would hang. */
export async function assertSerializable(provider: pulumi.dynamic.ResourceProvider): Promise<void> {
  await pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true });
}

type Method = "check" | "diff" | "create" | "read" | "update" | "delete";

/** Which arguments of each method are property bags, which the engine sends with `__provider` in them. */
const propertyArguments: Record<Method, number[]> = {
  check: [0, 1],
  diff: [1, 2],
  create: [0],
  read: [1],
  update: [1, 2],
  delete: [1],
};

/**
 * Mirrors `getProvider` in the dynamic provider host: `require-from-string` (which builds a
 * module whose `require` resolves from the working directory), then `.handler()`. The answer
 * goes to fd 3 so a provider that logs to stdout cannot garble it.
 */
const hostScript = `
const fs = require("node:fs");
const requireFromString = require("require-from-string");
const answer = (value) => { fs.writeSync(3, JSON.stringify(value)); process.exit(0); };
// The host hands the engine error.message, whatever the error is.
const fail = (error) => answer({ error: String(error != null && error.message !== undefined ? error.message : error) });
process.on("uncaughtException", fail);
process.on("unhandledRejection", fail);
const { text, method, args } = JSON.parse(fs.readFileSync(0, "utf8"));
Promise.resolve()
  .then(() => {
    const provider = requireFromString(text).handler();
    if (typeof provider[method] !== "function") throw new Error("the provider has no " + method + " method");
    return provider[method](...args);
  })
  .then((result) => answer({ result: result === undefined ? null : result }), fail);
`;

/** The answer as the provider gave it: the host adds `__provider` back itself before replying to the engine. */
function withoutProviderText(result: unknown): unknown {
  if (!result || typeof result !== "object") return result;
  const copy: Record<string, unknown> = { ...(result as Record<string, unknown>) };
  for (const key of ["inputs", "outs", "props"]) {
    const bag = copy[key];
    if (bag && typeof bag === "object" && providerKey in bag) {
      const { [providerKey]: _, ...rest } = bag as Record<string, unknown>;
      copy[key] = rest;
    }
  }
  return copy;
}

/**
 * Loads that text in a fresh plain-node process the way Pulumi's dynamic provider host does
 * and calls one method. Property-bag arguments get `__provider` added as the engine sends
 * them; it is removed from the `inputs`/`outs`/`props` of the answer. Arguments and answer
 * cross the process boundary as JSON, as they cross gRPC as protobuf structs.
 */
export function callSerializedProvider(text: string, method: Method, ...args: unknown[]): Promise<unknown> {
  const sent = args.map((arg, index) =>
    propertyArguments[method].includes(index) && arg && typeof arg === "object"
      ? { ...(arg as Record<string, unknown>), [providerKey]: text }
      : arg,
  );
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["-e", hostScript], {
      cwd: repoRoot,
      // No tsx loader: the host is plain node, and the text must stand on its own.
      env: { ...process.env, NODE_OPTIONS: "" },
      stdio: ["pipe", "pipe", "pipe", "pipe"],
    });
    const killOnExit = () => child.kill("SIGKILL");
    process.on("exit", killOnExit);
    let answer = "";
    let output = "";
    (child.stdio[3] as Readable).setEncoding("utf8").on("data", (chunk: string) => {
      answer += chunk;
    });
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      output += chunk;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      output += chunk;
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, callTimeoutMs);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      process.off("exit", killOnExit);
      let parsed: { result?: unknown; error?: string };
      try {
        parsed = JSON.parse(answer);
      } catch {
        const why = timedOut ? `within ${callTimeoutMs} ms` : `(exit ${code ?? signal})`;
        reject(new Error(`serialized provider ${method} gave no answer ${why}:\n${output}`));
        return;
      }
      if (parsed.error !== undefined) reject(new Error(parsed.error));
      else resolve(withoutProviderText(parsed.result));
    });
    child.stdin.end(JSON.stringify({ text, method, args: sent }));
  });
}
