/**
 * The GitHub Actions workflows: valid against the workflow schema (@action-validator/core), and
 * saying what the release flow relies on: what triggers them, the least permissions, secrets by
 * name only and never inside a script, one update per stack at a time, production behind its
 * environment's reviewers, and the policy pack on every preview and update.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { validateWorkflow } from "@action-validator/core";
import { parse as parseYaml } from "yaml";
import { actionsSecretNames } from "../../infra/config";
import { readStackFile, repoRoot } from "../support/program";

interface Step {
  name?: string;
  id?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
}

interface Job {
  name?: string;
  needs?: string | string[];
  permissions?: Record<string, string>;
  environment?: string | { name: string; url?: string };
  concurrency?: unknown;
  env?: Record<string, string>;
  steps: Step[];
  strategy?: { matrix?: Record<string, unknown> };
}

interface Workflow {
  name: string;
  on: Record<string, Record<string, unknown> | null>;
  permissions: Record<string, string>;
  concurrency: { group: string; "cancel-in-progress": boolean };
  jobs: Record<string, Job>;
}

const workflowDir = path.join(repoRoot, ".github", "workflows");
const files = ["preview.yml", "deploy-stage.yml", "deploy-production.yml"] as const;
type File = (typeof files)[number];

const sources = Object.fromEntries(
  files.map((file) => [file, fs.readFileSync(path.join(workflowDir, file), "utf8")]),
) as Record<File, string>;
const workflows = Object.fromEntries(files.map((file) => [file, parseYaml(sources[file])])) as Record<
  File,
  Workflow
>;

const githubOf = (stack: "stage" | "production") =>
  readStackFile(stack).values.github as { defaultBranch: string; environment: string };
const stage = githubOf("stage");
const production = githubOf("production");

const allJobs = () =>
  files.flatMap((file) => Object.entries(workflows[file].jobs).map(([id, job]) => ({ file, id, job })));
const allSteps = () =>
  allJobs().flatMap(({ file, id, job }) => job.steps.map((step) => ({ file, id, job, step })));
const environmentName = (job: Job) =>
  typeof job.environment === "string" ? job.environment : job.environment?.name;
const commentsOnPullRequest = (step: Step) => String(step.with?.["comment-on-pr"]) === "true";

/** Every string in a parsed document with its path of keys. */
function stringsOf(value: unknown, at: string[] = []): { at: string[]; text: string }[] {
  if (typeof value === "string") return [{ at, text: value }];
  if (Array.isArray(value)) return value.flatMap((inner, index) => stringsOf(inner, [...at, String(index)]));
  if (value && typeof value === "object")
    return Object.entries(value).flatMap(([key, inner]) => stringsOf(inner, [...at, key]));
  return [];
}

/** What a step runs Pulumi with: the action's command, or `pulumi preview|up` in its script. */
function pulumiOperations(step: Step): { command: string; policyPack?: string }[] {
  if (step.uses?.startsWith("pulumi/actions@")) {
    const command = step.with?.command;
    return typeof command === "string"
      ? [{ command, policyPack: step.with?.policyPacks as string | undefined }]
      : [];
  }
  // `npm run release` runs `pulumi up` with the options after its own `--`.
  return [
    ...(step.run ?? "").matchAll(
      /(pulumi (preview|up)|npm run --silent (release))\b([^\n]*(?:\\\n[^\n]*)*)/g,
    ),
  ].map((match) => ({
    command: match[2] ?? "up",
    policyPack: /--policy-pack (\S+)/.exec(match[4])?.[1],
  }));
}

describe("GitHub Actions workflows", () => {
  it("are exactly the three of the release flow, each valid against the workflow schema", () => {
    assert.deepEqual(fs.readdirSync(workflowDir).sort(), [...files].sort());
    for (const file of files) assert.deepEqual(validateWorkflow(sources[file]).errors, [], file);
  });

  it("the schema check is not vacuous", () => {
    const broken =
      "on: push\npermissions:\n  contents: maybe\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    stepz: []\n";
    assert.ok(validateWorkflow(broken).errors.length > 0);
  });

  it("trigger: pull requests preview, pushes to the default branch deploy stage, production only by hand", () => {
    assert.equal(stage.defaultBranch, production.defaultBranch, "both stacks name one default branch");
    const branch = production.defaultBranch;
    assert.deepEqual(workflows["preview.yml"].on, { pull_request: { branches: [branch] } });
    assert.deepEqual(workflows["deploy-stage.yml"].on, { push: { branches: [branch] } });
    const dispatch = workflows["deploy-production.yml"].on;
    assert.deepEqual(Object.keys(dispatch), ["workflow_dispatch"]);
    const inputs = (
      dispatch.workflow_dispatch as { inputs: Record<string, { type: string; required: boolean }> }
    ).inputs;
    assert.deepEqual(
      Object.fromEntries(Object.entries(inputs).map(([name, input]) => [name, [input.type, input.required]])),
      { image: ["string", false], version: ["string", false], switch: ["boolean", false] },
    );
  });

  it("grant the least: read by default, pull-requests: write only where a comment or the released config is posted", () => {
    for (const file of files) assert.deepEqual(workflows[file].permissions, { contents: "read" }, file);
    for (const { file, id, job } of allJobs()) {
      const comments = job.steps.some(commentsOnPullRequest);
      const proposesConfig = file === "deploy-production.yml" && id === "release";
      assert.equal(
        job.permissions?.["pull-requests"] === "write",
        comments || proposesConfig,
        `${file} ${id}`,
      );
      for (const [scope, level] of Object.entries(job.permissions ?? {})) {
        if (level !== "write") continue;
        const allowed =
          (scope === "pull-requests" && (comments || proposesConfig)) ||
          (scope === "contents" && proposesConfig);
        assert.ok(allowed, `${file} ${id} writes ${scope}`);
      }
    }
    const release = workflows["deploy-production.yml"].jobs.release;
    assert.deepEqual(
      release.permissions,
      { contents: "write", "pull-requests": "write" },
      "only to propose the released config",
    );
    // A protected default branch takes pull requests only: the job never pushes to it.
    const scripts = release.steps.map((step) => step.run ?? "").join("\n");
    assert.doesNotMatch(scripts, /git push origin "?HEAD:/);
    assert.match(scripts, /git push origin "\$branch"/);
    assert.match(scripts, /gh pr create --base "\$GITHUB_REF_NAME" --head "\$branch"/);
  });

  it("name secrets only, never inside a script, and only those switchyard publishes", () => {
    const published = new Set<string>([...Object.values(actionsSecretNames), "GITHUB_TOKEN"]);
    for (const file of files) {
      assert.doesNotMatch(sources[file], /secrets\[|toJSON\(\s*secrets/, file);
      for (const { at, text } of stringsOf(workflows[file])) {
        if (!text.includes("secrets.")) continue;
        const name = /^\$\{\{ secrets\.([A-Z_][A-Z0-9_]*) \}\}$/.exec(text)?.[1];
        assert.ok(name, `${file} ${at.join(".")}: ${text} is not a plain reference by name`);
        assert.ok(published.has(name), `${file} reads ${name}, which no stack publishes`);
        assert.ok(["env", "with"].includes(at.at(-2) ?? ""), `${file} ${at.join(".")}: only in env or with`);
      }
    }
  });

  it("keep every expression out of scripts, so no input or title can inject a command", () => {
    for (const { file, id, step } of allSteps())
      assert.doesNotMatch(step.run ?? "", /\$\{\{/, `${file} ${id} ${step.name ?? step.run}`);
  });

  it("serialize updates per stack and never cancel one half-way", () => {
    const stageGroup = workflows["deploy-stage.yml"].concurrency;
    const productionGroup = workflows["deploy-production.yml"].concurrency;
    assert.deepEqual(stageGroup, { group: "pulumi-stage", "cancel-in-progress": false });
    assert.deepEqual(productionGroup, { group: "pulumi-production", "cancel-in-progress": false });
    const preview = workflows["preview.yml"].concurrency;
    assert.match(preview.group, /github\.event\.pull_request\.number/, "previews queue per pull request");
    assert.equal(preview["cancel-in-progress"], true, "a newer push supersedes a preview");
    for (const { job } of allJobs()) assert.equal(job.concurrency, undefined, "one group per workflow");
  });

  it("run deploys in the environments the stacks manage; production's waits for its reviewers", () => {
    const stageJobs = Object.values(workflows["deploy-stage.yml"].jobs);
    const productionJobs = Object.values(workflows["deploy-production.yml"].jobs);
    assert.ok(stageJobs.every((job) => environmentName(job) === stage.environment));
    assert.ok(productionJobs.length > 0);
    assert.ok(productionJobs.every((job) => environmentName(job) === production.environment));
    assert.ok(
      Object.values(workflows["preview.yml"].jobs).every((job) => job.environment === undefined),
      "previews deploy nothing, so they take no environment",
    );
  });

  it("apply the policy pack on every preview and update", () => {
    assert.ok(fs.existsSync(path.join(repoRoot, "policies", "PulumiPolicy.yaml")));
    const operations = allSteps().flatMap(({ file, step }) =>
      pulumiOperations(step).map((operation) => ({ file, ...operation })),
    );
    assert.deepEqual(
      operations.map(({ file, command }) => `${file} ${command}`),
      ["preview.yml preview", "deploy-stage.yml up", "deploy-production.yml up"],
    );
    for (const { file, command, policyPack } of operations)
      assert.equal(policyPack, "policies", `${file} ${command}`);
  });

  it("previews both stacks with their diff, after the checks, and comments it on the pull request", () => {
    const { checks, preview } = workflows["preview.yml"].jobs;
    assert.ok(checks.steps.some((step) => step.run === ".ci/run"));
    const ci = fs.readFileSync(path.join(repoRoot, ".ci", "run"), "utf8");
    for (const command of ["npm ci", "npm run typecheck", "npm test"])
      assert.ok(ci.includes(command), command);
    assert.equal(preview.needs, "checks");
    assert.deepEqual(preview.strategy?.matrix, { stack: ["stage", "production"] });
    for (const stack of ["stage", "production"])
      assert.ok(fs.existsSync(path.join(repoRoot, `Pulumi.${stack}.yaml`)), stack);
    const steps = preview.steps;
    const action = steps.findIndex((step) => step.uses?.startsWith("pulumi/actions@"));
    assert.ok(steps.slice(0, action).some((step) => step.run?.startsWith("npm ci")));
    assert.deepEqual(
      { ...steps[action].with },
      {
        command: "preview",
        "stack-name": "${{ matrix.stack }}",
        diff: true,
        policyPacks: "policies",
        "comment-on-pr": true,
        "github-token": "${{ secrets.GITHUB_TOKEN }}",
        "cloud-url": "${{ vars.PULUMI_BACKEND_URL }}",
      },
    );
  });

  it("releases production to the idle slot the stack does not serve, and switches only when asked", () => {
    const release = workflows["deploy-production.yml"].jobs.release;
    assert.deepEqual(
      {
        IMAGE: release.env?.IMAGE,
        VERSION: release.env?.VERSION,
        SWITCH: release.env?.SWITCH,
      },
      { IMAGE: "${{ inputs.image }}", VERSION: "${{ inputs.version }}", SWITCH: "${{ inputs.switch }}" },
    );
    const script = release.steps.find((step) => step.id === "release")?.run ?? "";
    // What it decides is bin/releasePlan.ts, unit-tested, and run against a VPS by the real-engine tier.
    assert.match(
      script,
      /options=\(--stack "\$STACK" --image "\$IMAGE" --version "\$VERSION" "\$\{switch\[@\]\}"\)/,
    );
    assert.match(script, /npm run --silent release -- "\$\{options\[@\]\}" -- --policy-pack policies/);
    assert.match(script, /if \[ "\$SWITCH" = true \]; then switch=\(--switch\); fi/);
    assert.equal(
      release.environment && (release.environment as { url?: string }).url,
      "${{ steps.release.outputs.router-url }}",
    );
    const order = release.steps.map((step) => step.id ?? step.name ?? step.uses ?? step.run);
    assert.ok(
      order.indexOf("release") < order.indexOf("Propose the released config to main"),
      "committed only once the release's up succeeded",
    );
  });
});
