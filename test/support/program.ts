/**
 * Runs the real program (`infra/index.ts`) under Pulumi mocks with a real stack file, and
 * records every registration as a plain list: type, name, inputs, parent, dependencies.
 */

import { createHash, generateKeyPairSync } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { parse as parseYaml } from "yaml";
import { snapshotFileName } from "../../components/providers/snapshotFiles";

type Struct = Parameters<typeof pulumi.runtime.deserializeProperties>[0];

export const repoRoot = path.resolve(__dirname, "../..");
export type StackName = "dev" | "stage" | "production";

const secretSig = "4dabf18193072939515e22adb298388d";
const secretMarker = "1b47061264138c4ac30d75fd1eb44270";

export interface Registration {
  type: string;
  name: string;
  urn: string;
  custom: boolean;
  parent: string;
  /** Inputs as the engine receives them; secrets stay wrapped (see `isSecretValue`). */
  inputs: Record<string, unknown>;
  /** Outputs the mock answered with. */
  state: Record<string, unknown>;
  dependencies: string[];
  propertyDependencies: Record<string, string[]>;
  /** The names of its explicit aliases (`aliases: [{ name }]`); the engine adds inherited ones. */
  aliases: string[];
  options: {
    deleteBeforeReplace: boolean;
    retainOnDelete: boolean;
    protect: boolean;
    replacementTrigger: unknown;
    ignoreChanges: string[];
  };
}

export interface ProgramRun {
  registrations: Registration[];
  outputs: Record<string, unknown>;
  /** The error the program failed with, if it did. */
  error?: Error;
}

/** What the engine remembers between two `pulumi up`s: stashed values by URN. */
export class EngineState {
  readonly stashes = new Map<string, { trigger: string; output: unknown }>();
}

/** Config as a user writes it in a stack file, keys without the `switchyard:` prefix. */
export type StackValues = Record<string, unknown>;

export interface RunOptions {
  /** Edits the stack's config before the program sees it (a `pulumi config set`). */
  mutate?: (values: StackValues) => void;
  /** Keys to present as plain text even though the file holds them as secrets. */
  plainKeys?: string[];
  /** Keys to present as secrets (`pulumi config set --secret`) although the file does not hold them. */
  secretKeys?: string[];
  /** State carried over from an earlier run of the same stack. */
  state?: EngineState;
  /** The stack file, relative to the project; `Pulumi.<stack>.yaml` unless said (an example's). */
  stackFile?: string;
}

/** Reads a stack file; `secure:` values become the plain text a user would have set. */
export function readStackFile(
  stack: StackName,
  stackFile = `Pulumi.${stack}.yaml`,
): { values: StackValues; secretKeys: Set<string> } {
  const file = parseYaml(fs.readFileSync(path.join(repoRoot, stackFile), "utf8")) as {
    config?: Record<string, unknown>;
  };
  const values: StackValues = {};
  const secretKeys = new Set<string>();
  for (const [fullKey, value] of Object.entries(file.config ?? {})) {
    const [namespace, key] = fullKey.split(":");
    if (namespace !== "switchyard") continue;
    const { decoded, secret } = decodeSecure(value, key);
    values[key] = decoded;
    if (secret) secretKeys.add(key);
  }
  return { values, secretKeys };
}

function decodeSecure(value: unknown, keyPath: string): { decoded: unknown; secret: boolean } {
  if (value && typeof value === "object" && !Array.isArray(value)) {
    const entries = Object.entries(value);
    if (entries.length === 1 && entries[0][0] === "secure")
      return { decoded: secretFor(keyPath), secret: true };
    let secret = false;
    const decoded: Record<string, unknown> = {};
    for (const [key, inner] of entries) {
      const result = decodeSecure(inner, `${keyPath}.${key}`);
      decoded[key] = result.decoded;
      secret ||= result.secret;
    }
    return { decoded, secret };
  }
  return { decoded: value, secret: false };
}

// RSA in PKCS#1 PEM: a format both the SSH client (ssh2) and TLS read.
const generatedKey = generateKeyPairSync("rsa", { modulusLength: 2048 })
  .privateKey.export({ format: "pem", type: "pkcs1" })
  .toString();

/** The plain text behind a `secure:` value: what `pulumi config set --secret` would have stored. */
export function secretFor(keyPath: string): string {
  if (keyPath === "sshPrivateKey" || keyPath === "tlsKey") return generatedKey;
  if (keyPath === "tlsCertificate")
    return "-----BEGIN CERTIFICATE-----\nTUlJQ2Zha2U=\n-----END CERTIFICATE-----\n";
  return `s3cr3t-${keyPath.replace(/\W/g, "-")}-${createHash("sha256").update(keyPath).digest("hex").slice(0, 12)}`;
}

export function isSecretValue(value: unknown): value is { value: unknown } {
  return (
    typeof value === "object" &&
    value !== null &&
    (value as Record<string, unknown>)[secretSig] === secretMarker
  );
}

/** The value with every secret wrapper removed. */
export function reveal(value: unknown): unknown {
  if (isSecretValue(value)) return reveal(value.value);
  if (Array.isArray(value)) return value.map(reveal);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, reveal(inner)]));
  }
  return value;
}

/** Paths at which `needle` appears in `value` outside any secret wrapper. */
export function plainOccurrences(value: unknown, needle: string, at = "$"): string[] {
  if (isSecretValue(value)) return [];
  if (typeof value === "string") return value.includes(needle) ? [at] : [];
  if (Array.isArray(value))
    return value.flatMap((inner, index) => plainOccurrences(inner, needle, `${at}[${index}]`));
  if (value && typeof value === "object") {
    return Object.entries(value).flatMap(([key, inner]) => plainOccurrences(inner, needle, `${at}.${key}`));
  }
  return [];
}

function fakeDigest(...parts: unknown[]): string {
  return `sha256:${createHash("sha256").update(JSON.stringify(parts)).digest("hex")}`;
}

/** Outputs a real provider computes; with inputs alone, values built from them would vanish. */
function computedOutputs(
  type: string,
  name: string,
  inputs: Record<string, unknown>,
): Record<string, unknown> {
  switch (type) {
    case "docker:index/remoteImage:RemoteImage":
      // A local build has an id but no registry digest.
      return inputs.build === undefined
        ? {
            imageId: fakeDigest("image", inputs.name),
            repoDigest: `${inputs.name}@${fakeDigest(inputs.name)}`,
          }
        : { imageId: fakeDigest("build", inputs.name, inputs.build, inputs.triggers), repoDigest: "" };
    case "random:index/randomPassword:RandomPassword":
      return { result: { [secretSig]: secretMarker, value: `generated-${name}-0123456789abcdef` } };
    case "command:local:Command":
      return { stdout: "", stderr: "" };
    case "pulumi-nodejs:dynamic/switchyard:PgSnapshot": {
      const fileName = snapshotFileName(
        { project: String(inputs.project), stack: String(inputs.stack) },
        new Date(0),
        String(inputs.migrationSet),
      );
      return { fileName, path: `${inputs.directory}/${fileName}` };
    }
    case "pulumi-nodejs:dynamic/switchyard:NginxUpstream":
      // What the provider reads off the live chain; a router without TLS reports none.
      return Object.keys(reveal(inputs.secretFiles) ?? {}).length > 0 || inputs.acme !== undefined
        ? { certificateExpiresAt: "2027-03-01T00:00:00.000Z" }
        : {};
    case "pulumi-nodejs:dynamic/switchyard:NetlifyDeploy":
      return {
        deployId: fakeDigest("deploy", inputs.siteId, inputs.backendVersion).slice(7, 31),
        url: "https://shop-web.netlify.app",
        state: "ready",
      };
    default:
      return {};
  }
}

/** The organization a self-managed backend reports; Pulumi Cloud reports the account's. */
export const mockOrganization = "organization";

/** The numeric id the mocked GitHub answers for a user login or team slug. */
export function githubIdOf(name: string): number {
  return Number.parseInt(createHash("sha256").update(name).digest("hex").slice(0, 7), 16) + 1;
}

/** Results of provider functions a program reads (GitHub user and team lookups answer with ids). */
function computedCallResults(token: string, inputs: Record<string, unknown>): Record<string, unknown> {
  switch (token) {
    case "github:index/getUser:getUser":
      return { id: String(githubIdOf(String(inputs.username))) };
    case "github:index/getTeam:getTeam":
      return { id: String(githubIdOf(String(inputs.slug))) };
    default:
      return {};
  }
}

interface PendingRequest {
  trigger: unknown;
  type: string;
  name: string;
}

/** Runs `infra/index.ts` for `stack` and returns what it registered. */
export async function runProgram(stack: StackName, options: RunOptions = {}): Promise<ProgramRun> {
  const { values, secretKeys } = readStackFile(stack, options.stackFile);
  options.mutate?.(values);
  for (const key of options.plainKeys ?? []) secretKeys.delete(key);
  for (const key of options.secretKeys ?? []) secretKeys.add(key);
  const config: Record<string, string> = {};
  for (const [key, value] of Object.entries(values)) {
    if (value === undefined) continue;
    config[`switchyard:${key}`] = typeof value === "string" ? value : JSON.stringify(value);
  }

  const state = options.state ?? new EngineState();
  const registrations: Registration[] = [];
  const triggers = new Map<string, PendingRequest>();
  const failures: Error[] = [];
  let pending = 0;

  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        const inputs = args.inputs as Record<string, unknown>;
        const computed = computedOutputs(args.type, args.name, inputs);
        if (args.type === "pulumi:index:Stash") {
          const trigger = JSON.stringify(reveal(triggers.get(`${args.type}::${args.name}`)?.trigger));
          const remembered = state.stashes.get(args.name);
          const output = remembered && remembered.trigger === trigger ? remembered.output : inputs.input;
          state.stashes.set(args.name, { trigger, output });
          Object.assign(computed, { output });
        }
        return { id: `${args.name}-id`, state: { ...inputs, ...computed } };
      },
      call: (args) => ({ ...args.inputs, ...computedCallResults(args.token, args.inputs) }),
    },
    "switchyard",
    stack,
    false,
    mockOrganization,
  );
  pulumi.runtime.setAllConfig(
    config,
    [...secretKeys].filter((key) => `switchyard:${key}` in config).map((key) => `switchyard:${key}`),
  );

  const monitor = pulumi.runtime.getMonitor() as unknown as MonitorLike;
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, callback) => {
    pending++;
    const type = req.getType();
    const name = req.getName();
    const rawTrigger = req.getReplacementTrigger();
    const trigger = rawTrigger ? pulumi.runtime.deserializeProperty(rawTrigger.toJavaScript()) : undefined;
    triggers.set(`${type}::${name}`, { trigger, type, name });
    register(req, (error, response) => {
      pending--;
      if (response) {
        const propertyDependencies: Record<string, string[]> = {};
        req.getPropertydependenciesMap().forEach((deps, key) => {
          propertyDependencies[key] = deps.getUrnsList();
        });
        registrations.push({
          type,
          name,
          urn: response.getUrn(),
          custom: req.getCustom(),
          parent: req.getParent(),
          inputs: pulumi.runtime.deserializeProperties(req.getObject() as Struct),
          state: pulumi.runtime.deserializeProperties(response.getObject() as Struct),
          dependencies: req.getDependenciesList(),
          propertyDependencies,
          aliases: req
            .getAliasesList()
            .map((alias) => alias.getSpec()?.getName() ?? alias.getUrn().split("::").pop() ?? ""),
          options: {
            deleteBeforeReplace: req.getDeletebeforereplace(),
            retainOnDelete: req.getRetainondelete(),
            protect: req.getProtect(),
            replacementTrigger: trigger,
            ignoreChanges: req.getIgnorechangesList(),
          },
        });
      }
      callback(error, response);
    });
  };

  const onRejection = (reason: unknown) =>
    failures.push(reason instanceof Error ? reason : new Error(String(reason)));
  process.on("unhandledRejection", onRejection);
  try {
    let exports: Record<string, unknown> = {};
    try {
      exports = loadProgram();
    } catch (error) {
      return { registrations, outputs: {}, error: error as Error };
    }
    const outputs = await new Promise<Record<string, unknown>>((resolve) =>
      pulumi.output(exports).apply((resolved) => resolve(resolved as Record<string, unknown>)),
    );
    await settle(() => pending);
    if (failures.length > 0) return { registrations, outputs, error: failures[0] };
    return { registrations, outputs };
  } finally {
    process.off("unhandledRejection", onRejection);
  }
}

interface MonitorLike {
  registerResource(
    req: RegisterRequest,
    callback: (error: Error | null, response?: RegisterResponse) => void,
  ): void;
}
interface RegisterRequest {
  getType(): string;
  getName(): string;
  getParent(): string;
  getCustom(): boolean;
  getObject(): unknown;
  getProtect(): boolean;
  getDeletebeforereplace(): boolean;
  getRetainondelete(): boolean;
  getDependenciesList(): string[];
  getIgnorechangesList(): string[];
  getAliasesList(): { getUrn(): string; getSpec(): { getName(): string } | undefined }[];
  getPropertydependenciesMap(): {
    forEach(fn: (deps: { getUrnsList(): string[] }, key: string) => void): void;
  };
  getReplacementTrigger(): { toJavaScript(): unknown } | undefined;
}
interface RegisterResponse {
  getUrn(): string;
  getObject(): unknown;
}

/** Requires the program afresh, so each run sees its own config. */
function loadProgram(): Record<string, unknown> {
  for (const id of Object.keys(require.cache)) {
    if (id.startsWith(path.join(repoRoot, "infra")) || id.startsWith(path.join(repoRoot, "components"))) {
      delete require.cache[id];
    }
  }
  return require(path.join(repoRoot, "infra", "index.ts")) as Record<string, unknown>;
}

/** Waits until no registration is in flight and none started for a few event-loop turns. */
async function settle(pending: () => number): Promise<void> {
  let quietTurns = 0;
  while (quietTurns < 5) {
    await new Promise((resolve) => setTimeout(resolve, 2));
    quietTurns = pending() === 0 ? quietTurns + 1 : 0;
  }
}

/** Helpers over a run's registrations. */
export class Graph {
  constructor(readonly registrations: Registration[]) {}

  /**
   * The one registration of `role` (and `type`): named `<deployment>-<role>` under the deployment
   * (see infra/names.ts), or `role` outside it, whatever the deployment is called.
   */
  byRole(role: string, type?: string): Registration {
    const found = this.registrations.filter(
      (r) => this.roleOf(r) === role && (type === undefined || r.type === type),
    );
    if (found.length !== 1)
      throw new Error(`expected one registration of role ${role}, found ${found.length}`);
    return found[0];
  }

  /** What `registration` is in its deployment: its name without the deployment's. */
  roleOf(registration: Registration): string {
    const deployment = this.registrations.find((r) => r.type === "switchyard:index:Deployment");
    const prefix = `${deployment?.name}-`;
    return registration.name.startsWith(prefix) ? registration.name.slice(prefix.length) : registration.name;
  }

  ofType(type: string): Registration[] {
    return this.registrations.filter((r) => r.type === type);
  }

  /** Everything `urn` waits for: its dependencies, their dependencies, and so on. */
  dependencyClosure(urn: string): Set<string> {
    const byUrn = new Map(this.registrations.map((r) => [r.urn, r]));
    const seen = new Set<string>();
    const stack = [urn];
    while (stack.length > 0) {
      const current = byUrn.get(stack.pop() as string);
      if (!current) continue;
      const direct = [...current.dependencies, ...Object.values(current.propertyDependencies).flat()];
      for (const dep of direct) {
        if (!seen.has(dep)) {
          seen.add(dep);
          stack.push(dep);
        }
      }
    }
    return seen;
  }

  /** Whether `later` cannot start before `earlier` is done. */
  waitsFor(later: Registration, earlier: Registration): boolean {
    return this.dependencyClosure(later.urn).has(earlier.urn);
  }
}
