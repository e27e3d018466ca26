/**
 * Runs a policy pack's policies in-process against what the real program registered under
 * mocks, with the arguments @pulumi/policy's analyzer server (1.21, `server.js`) builds from the
 * engine's requests:
 *
 * - resource policies get each resource's type, name, URN and inputs, with secrets unwrapped
 *   (policies never learn that a value was secret) behind `unknownCheckingProxy`, and the
 *   options the engine sends: protect, ignoreChanges, deleteBeforeReplace, parent. The engine
 *   sends neither retainOnDelete nor dependencies to policies, so they are not here either.
 * - stack policies get every resource with its outputs (the mocks' state: inputs plus what the
 *   mocks compute), its parent, dependencies and property dependencies as resource objects.
 *
 * Not reproduced: `provider` (the harness does not record provider references) and
 * `additionalSecretOutputs` (nor those); no policy reads them. A real provider may return fewer
 * outputs than the mocks' state holds, so stack policies read only fields their provider returns.
 */
import * as fs from "node:fs";
import { createRequire } from "node:module";
import * as path from "node:path";
import {
  type EnforcementLevel,
  type PolicyPackArgs,
  type PolicyResource,
  type PolicyResourceOptions,
  type ResourceValidationArgs,
  type ResourceValidationPolicy,
  type StackValidationPolicy,
  UnknownValueError,
  unknownCheckingProxy,
} from "@pulumi/policy";
import ts from "typescript";
import { Background } from "./process";
import type { Registration } from "./program";
import { reveal } from "./program";

export interface Violation {
  policy: string;
  enforcementLevel: EnforcementLevel;
  message: string;
  /** The resource reported on; a stack policy may report on the whole stack. */
  urn?: string;
}

export interface PolicyReport {
  violations: Violation[];
  /** Policies that declared themselves not applicable, with their reason. */
  notApplicable: { policy: string; reason?: string }[];
}

class NotApplicable extends Error {
  constructor(readonly reason?: string) {
    super(reason ?? "not applicable");
  }
}

function notApplicable(reason?: string): never {
  throw new NotApplicable(reason);
}

/** Properties as the analyzer deserializes them: secrets unwrapped, absent values dropped. */
function policyProps(values: Record<string, unknown>): Record<string, unknown> {
  const plain = reveal(values) as Record<string, unknown>;
  return unknownCheckingProxy(Object.fromEntries(Object.entries(plain).filter(([, v]) => v !== undefined)));
}

function optionsOf(registration: Registration): PolicyResourceOptions {
  return {
    protect: registration.options.protect,
    ignoreChanges: registration.options.ignoreChanges,
    deleteBeforeReplace: registration.options.deleteBeforeReplace,
    aliases: [],
    customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
    additionalSecretOutputs: [],
    ...(registration.parent ? { parent: registration.parent } : {}),
  };
}

/** The analyzer's type check: by `__pulumiType`, else the class's `isInstance`. */
function isTypeOf(type: string, resourceClass: unknown): boolean {
  const declared = (resourceClass as { __pulumiType?: string }).__pulumiType;
  if (declared) return declared === type;
  const isInstance = (resourceClass as { isInstance?: (o: unknown) => boolean }).isInstance;
  return typeof isInstance === "function" && isInstance({ __pulumiType: type }) === true;
}

function isResourcePolicy(
  policy: ResourceValidationPolicy | StackValidationPolicy,
): policy is ResourceValidationPolicy {
  return "validateResource" in policy;
}

const noTags: ReadonlyMap<string, string> = new Map();

/** Resources as a stack policy sees them, linked to each other. */
function stackResources(registrations: readonly Registration[]): PolicyResource[] {
  const byUrn = new Map<string, PolicyResource>();
  for (const registration of registrations) {
    const props = policyProps(registration.state);
    byUrn.set(registration.urn, {
      type: registration.type,
      name: registration.name,
      urn: registration.urn,
      props,
      opts: optionsOf(registration),
      dependencies: [],
      propertyDependencies: {},
      isType: (resourceClass) => isTypeOf(registration.type, resourceClass),
      asType: ((resourceClass: unknown) =>
        isTypeOf(registration.type, resourceClass) ? props : undefined) as PolicyResource["asType"],
    });
  }
  const resolve = (urns: string[]) =>
    urns.map((urn) => byUrn.get(urn)).filter((r): r is PolicyResource => r !== undefined);
  for (const registration of registrations) {
    const resource = byUrn.get(registration.urn) as PolicyResource;
    resource.parent = byUrn.get(registration.parent);
    resource.dependencies = resolve(registration.dependencies);
    resource.propertyDependencies = Object.fromEntries(
      Object.entries(registration.propertyDependencies).map(([key, urns]) => [key, resolve(urns)]),
    );
  }
  return [...byUrn.values()];
}

/** Runs every enabled policy of `pack` the way the engine would over one preview of `registrations`. */
export async function checkPolicies(
  pack: Pick<PolicyPackArgs, "policies" | "enforcementLevel">,
  registrations: readonly Registration[],
): Promise<PolicyReport> {
  const report: PolicyReport = { violations: [], notApplicable: [] };
  const resources = stackResources(registrations);
  for (const policy of pack.policies) {
    const enforcementLevel = policy.enforcementLevel ?? pack.enforcementLevel ?? "advisory";
    if (enforcementLevel === "disabled") continue;
    const violate = (urn?: string) => (message: string, reportedUrn?: string) =>
      report.violations.push({ policy: policy.name, enforcementLevel, message, urn: urn ?? reportedUrn });
    const run = async (validation: () => Promise<void> | void, onUnknown: () => void) => {
      try {
        await validation();
      } catch (error) {
        if (error instanceof NotApplicable)
          report.notApplicable.push({ policy: policy.name, reason: error.reason });
        else if (error instanceof UnknownValueError) onUnknown();
        else throw error;
      }
    };
    // Like the analyzer: a value unknown during preview makes the policy skip, with an advisory note.
    const unknown = (urn?: string) => () =>
      report.violations.push({
        policy: policy.name,
        enforcementLevel: "advisory",
        message: `can't run policy ${policy.name} during preview`,
        urn,
      });
    if (isResourcePolicy(policy)) {
      const validations = [policy.validateResource ?? []].flat();
      for (const registration of registrations) {
        const props = policyProps(registration.inputs);
        const args: ResourceValidationArgs = {
          type: registration.type,
          name: registration.name,
          urn: registration.urn,
          props,
          opts: optionsOf(registration),
          stackTags: noTags,
          isType: (resourceClass) => isTypeOf(registration.type, resourceClass),
          asType: ((resourceClass: unknown) =>
            isTypeOf(registration.type, resourceClass)
              ? props
              : undefined) as ResourceValidationArgs["asType"],
          getConfig: <T extends object>() => ({}) as T,
          notApplicable,
        };
        for (const validation of validations) {
          await run(() => validation(args, violate(registration.urn)), unknown(registration.urn));
        }
      }
    } else {
      const args = {
        resources,
        stackTags: noTags,
        getConfig: <T extends object>() => ({}) as T,
        notApplicable,
      };
      await run(() => policy.validateStack(args, violate()), unknown());
    }
  }
  return report;
}

/**
 * The pack as the Pulumi CLI runs it: `run-policy-pack` (what `pulumi-analyzer-policy` starts)
 * in a child process, with the stack's name and config in its environment, spoken to over the
 * analyzer protocol the engine uses. Much slower than `checkPolicies`; tests use it to show that
 * `checkPolicies` reports what the real analyzer reports.
 */
export interface PolicyPackProcess {
  /** The policies and enforcement levels the pack announces to the engine. */
  policies(): Promise<{ name: string; enforcementLevel: EnforcementLevel }[]>;
  /** `Analyze` for every registration (its inputs), then `AnalyzeStack` (their outputs). */
  analyze(registrations: readonly Registration[]): Promise<Violation[]>;
  stop(): Promise<void>;
}

// The analyzer protocol as @pulumi/pulumi ships it, and the gRPC library its client is made for.
const analyzerGrpcPath = require.resolve("@pulumi/pulumi/proto/analyzer_grpc_pb");
const requireFromPulumi = createRequire(analyzerGrpcPath);
const grpc = requireFromPulumi("@grpc/grpc-js") as typeof import("@grpc/grpc-js");
const analyzerRpc = require(analyzerGrpcPath);
const analyzerProto = require("@pulumi/pulumi/proto/analyzer_pb");
const { Struct } = requireFromPulumi("google-protobuf/google/protobuf/struct_pb.js");
const { Empty } = requireFromPulumi("google-protobuf/google/protobuf/empty_pb.js");

const enforcementLevels: EnforcementLevel[] = ["advisory", "mandatory", "disabled", "remediate"];

/** JSON for a protobuf Struct: absent values are left out, as the engine leaves them out. */
function structOf(value: Record<string, unknown>): unknown {
  return Struct.fromJavaScript(JSON.parse(JSON.stringify(value)));
}

function resourceOptions(registration: Registration): unknown {
  const options = new analyzerProto.AnalyzerResourceOptions();
  options.setProtect(registration.options.protect);
  options.setIgnorechangesList(registration.options.ignoreChanges);
  options.setDeletebeforereplace(registration.options.deleteBeforeReplace);
  options.setDeletebeforereplacedefined(true);
  options.setParent(registration.parent);
  return options;
}

type Call = (request: unknown, callback: (error: Error | null, response: AnalyzeResponse) => void) => void;
interface AnalyzeResponse {
  getDiagnosticsList(): {
    getPolicyname(): string;
    getEnforcementlevel(): number;
    getMessage(): string;
    getUrn(): string;
  }[];
}

/**
 * The files a pack reaches from its `index.ts` through relative imports (some outside its
 * directory), and every other module they import: a package or one of node's own.
 */
export function packSources(packDir: string): { files: string[]; packages: Map<string, string[]> } {
  const files: string[] = [];
  const packages = new Map<string, string[]>();
  const visit = (file: string) => {
    if (files.includes(file)) return;
    files.push(file);
    for (const { fileName: specifier } of ts.preProcessFile(fs.readFileSync(file, "utf8")).importedFiles) {
      if (specifier.startsWith(".")) visit(`${path.resolve(path.dirname(file), specifier)}.ts`);
      else packages.set(specifier, [...(packages.get(specifier) ?? []), file]);
    }
  };
  visit(path.join(packDir, "index.ts"));
  return { files, packages };
}

export async function startPolicyPack(
  directory: string,
  stack: { name: string; project: string; config: Record<string, string>; programDirectory: string },
): Promise<PolicyPackProcess> {
  // The pack's own @pulumi/pulumi, as the CLI's policy analyzer runs it.
  const runner = require.resolve("@pulumi/pulumi/cmd/run-policy-pack", { paths: [directory] });
  // As Pulumi CLI 3.248 starts a pack through the Node language host: in the program's main
  // directory, with nothing of the stack in its environment; the stack comes in ConfigureStack.
  const {
    PULUMI_NODEJS_STACK: _stack,
    PULUMI_NODEJS_PROJECT: _project,
    PULUMI_CONFIG: _config,
    ...env
  } = process.env;
  const server = new Background(process.execPath, [runner, "127.0.0.1:0", directory], {
    cwd: stack.programDirectory,
    env,
  });
  // The server prints its port once it listens; compiling the pack with type checks takes a while.
  try {
    await server.waitForOutput(/^\d+$/m, 120_000);
  } catch (error) {
    await server.stop();
    throw error;
  }
  const port = (/^(\d+)$/m.exec(server.output) as RegExpExecArray)[1];
  const client = new analyzerRpc.AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const call = <T>(method: string, request: unknown) =>
    new Promise<T>((resolve, reject) =>
      (client[method].bind(client) as Call)(request, (error, response) =>
        error ? reject(error) : resolve(response as T),
      ),
    );
  const configure = new analyzerProto.AnalyzerStackConfigureRequest();
  configure.setStack(stack.name);
  configure.setProject(stack.project);
  for (const [key, value] of Object.entries(stack.config)) configure.getConfigMap().set(key, value);
  await call("configureStack", configure);

  const violationsOf = (response: AnalyzeResponse, urn?: string): Violation[] =>
    response.getDiagnosticsList().map((d) => ({
      policy: d.getPolicyname(),
      enforcementLevel: enforcementLevels[d.getEnforcementlevel()],
      message: d.getMessage(),
      urn: urn ?? (d.getUrn() || undefined),
    }));

  return {
    async policies() {
      const info = await call<{
        getPoliciesList(): { getName(): string; getEnforcementlevel(): number }[];
      }>("getAnalyzerInfo", new Empty());
      return info.getPoliciesList().map((p) => ({
        name: p.getName(),
        enforcementLevel: enforcementLevels[p.getEnforcementlevel()],
      }));
    },

    async analyze(registrations) {
      const violations: Violation[] = [];
      for (const registration of registrations) {
        const request = new analyzerProto.AnalyzeRequest();
        request.setType(registration.type);
        request.setName(registration.name);
        request.setUrn(registration.urn);
        request.setProperties(structOf(registration.inputs));
        request.setOptions(resourceOptions(registration));
        violations.push(...violationsOf(await call("analyze", request), registration.urn));
      }
      const request = new analyzerProto.AnalyzeStackRequest();
      request.setResourcesList(
        registrations.map((registration) => {
          const resource = new analyzerProto.AnalyzerResource();
          resource.setType(registration.type);
          resource.setName(registration.name);
          resource.setUrn(registration.urn);
          resource.setProperties(structOf(registration.state));
          resource.setOptions(resourceOptions(registration));
          resource.setParent(registration.parent);
          resource.setDependenciesList(registration.dependencies);
          for (const [key, urns] of Object.entries(registration.propertyDependencies)) {
            const dependencies = new analyzerProto.AnalyzerPropertyDependencies();
            dependencies.setUrnsList(urns);
            resource.getPropertydependenciesMap().set(key, dependencies);
          }
          return resource;
        }),
      );
      violations.push(...violationsOf(await call("analyzeStack", request)));
      return violations;
    },

    async stop() {
      client.close();
      await server.stop();
    },
  };
}
