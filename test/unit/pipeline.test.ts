/**
 * The GitHub side of the real program under Pulumi mocks, fed the real stack files: the
 * environment each stack deploys from, who approves it, and the secrets and variables its
 * workflows read.
 */
import assert from "node:assert/strict";
import { actionsSecretNames, type PublishedSecret } from "../../infra/config";
import {
  Graph,
  githubIdOf,
  isSecretValue,
  mockOrganization,
  plainOccurrences,
  type ProgramRun,
  readStackFile,
  reveal,
  runProgram,
  type StackName,
  type StackValues,
  secretFor,
} from "../support/program";

const types = {
  provider: "pulumi:providers:github",
  environment: "github:index/repositoryEnvironment:RepositoryEnvironment",
  branchPolicy: "github:index/repositoryEnvironmentDeploymentPolicy:RepositoryEnvironmentDeploymentPolicy",
  environmentSecret: "github:index/actionsEnvironmentSecret:ActionsEnvironmentSecret",
  repositorySecret: "github:index/actionsSecret:ActionsSecret",
  environmentVariable: "github:index/actionsEnvironmentVariable:ActionsEnvironmentVariable",
  repositoryVariable: "github:index/actionsVariable:ActionsVariable",
};
const githubTypes = new Set(Object.values(types));

interface GitHubFile {
  owner: string;
  repository: string;
  defaultBranch: string;
  environment: string;
  reviewers?: { users?: (string | number)[]; teams?: (string | number)[] };
  preventSelfReview?: boolean;
  secrets: PublishedSecret[];
  repositorySecrets?: PublishedSecret[];
  backendUrl?: string;
}

function githubOf(values: StackValues): GitHubFile {
  return values.github as GitHubFile;
}

async function mustRun(
  stack: StackName,
  mutate?: (values: StackValues) => void,
  secretKeys?: string[],
): Promise<ProgramRun> {
  const run = await runProgram(stack, { mutate, secretKeys });
  if (run.error) throw run.error;
  return run;
}

function variablesOf(graph: Graph): Record<string, string> {
  return Object.fromEntries(
    graph
      .ofType(types.environmentVariable)
      .map((r) => [r.inputs.variableName as string, reveal(r.inputs.value) as string]),
  );
}

for (const stack of ["stage", "production"] as const) {
  describe(`Pipeline under mocks: ${stack} stack`, () => {
    const { values } = readStackFile(stack);
    const settings = githubOf(values);
    let run: ProgramRun;
    let graph: Graph;

    before(async () => {
      run = await mustRun(stack);
      graph = new Graph(run.registrations);
    });

    it("manages the stack's own environment, deployable from the default branch only", () => {
      const [environment] = graph.ofType(types.environment);
      assert.equal(graph.ofType(types.environment).length, 1);
      assert.equal(environment.inputs.repository, settings.repository);
      assert.equal(environment.inputs.environment, settings.environment);
      assert.deepEqual(environment.inputs.deploymentBranchPolicy, {
        protectedBranches: false,
        customBranchPolicies: true,
      });
      assert.equal(environment.inputs.canAdminsBypass, false);
      const [policy] = graph.ofType(types.branchPolicy);
      assert.equal(graph.ofType(types.branchPolicy).length, 1);
      assert.equal(policy.inputs.branchPattern, settings.defaultBranch);
      assert.equal(policy.inputs.environment, settings.environment);
      assert.ok(graph.waitsFor(policy, environment), "the policy applies to the environment once it exists");
      assert.equal(run.outputs.githubEnvironment, settings.environment);
    });

    it("acts through a GitHub provider for the owner, with the token kept secret", () => {
      const provider = graph.byRole("pipeline-github", types.provider);
      assert.equal(provider.inputs.owner, settings.owner);
      assert.ok(isSecretValue(provider.inputs.token));
      assert.equal(reveal(provider.inputs.token), secretFor("githubToken"));
      for (const registration of graph.registrations.filter((r) => r.type.startsWith("github:"))) {
        assert.equal(
          registration.parent,
          graph.byRole("pipeline").urn,
          `${registration.name} is the Pipeline's`,
        );
      }
    });

    it("registers every published secret as a secret, under the name the workflows read", () => {
      const environmentSecrets = graph.ofType(types.environmentSecret);
      assert.deepEqual(
        environmentSecrets.map((r) => r.inputs.secretName).sort(),
        settings.secrets.map((key) => actionsSecretNames[key]).sort(),
      );
      const repositorySecrets = graph.ofType(types.repositorySecret);
      assert.deepEqual(
        repositorySecrets.map((r) => r.inputs.secretName).sort(),
        (settings.repositorySecrets ?? []).map((key) => actionsSecretNames[key]).sort(),
      );
      for (const secret of [...environmentSecrets, ...repositorySecrets]) {
        assert.ok(isSecretValue(secret.inputs.value), `${secret.name} is registered as a secret`);
        assert.equal(reveal(secret.inputs.value), secretFor("pulumiAccessToken"));
      }
      for (const key of ["githubToken", "pulumiAccessToken"]) {
        for (const registration of run.registrations) {
          assert.deepEqual(plainOccurrences(registration.inputs, secretFor(key)), [], registration.name);
        }
        assert.deepEqual(plainOccurrences(run.outputs, secretFor(key)), []);
      }
    });

    it("publishes the stack name and the VPS host as variables of the environment", () => {
      const host = /@([^:]+)/.exec((values.target as { host: string }).host)?.[1];
      assert.deepEqual(variablesOf(graph), {
        PULUMI_STACK: `${mockOrganization}/switchyard/${stack}`,
        VPS_HOST: host,
      });
      for (const variable of graph.ofType(types.environmentVariable)) {
        assert.equal(variable.inputs.environment, settings.environment);
      }
    });

    it("flipping activeSlot touches nothing on GitHub", async () => {
      const flipped = await mustRun(stack, (v) => {
        v.activeSlot = v.activeSlot === "blue" ? "green" : "blue";
      });
      const githubInputs = (r: ProgramRun) =>
        JSON.stringify(
          r.registrations.filter((x) => githubTypes.has(x.type)).map((x) => [x.name, reveal(x.inputs)]),
        );
      assert.equal(githubInputs(flipped), githubInputs(run));
    });
  });
}

describe("Pipeline under mocks: who approves production", () => {
  const settings = githubOf(readStackFile("production").values);

  it("requires the listed reviewers, looked up by name, and keeps the deployer from approving", async () => {
    const graph = new Graph((await mustRun("production")).registrations);
    const environment = graph.byRole("pipeline-environment", types.environment);
    const reviewers = environment.inputs.reviewers as { users: number[]; teams: number[] }[];
    assert.deepEqual(reviewers, [
      {
        users: (settings.reviewers?.users ?? []).map((login) => githubIdOf(String(login))),
        teams: (settings.reviewers?.teams ?? []).map((slug) => githubIdOf(String(slug))),
      },
    ]);
    assert.ok(reviewers[0].users.length + reviewers[0].teams.length > 0);
    assert.equal(environment.inputs.preventSelfReview, true);
  });

  it("passes numeric ids through unchanged", async () => {
    const graph = new Graph(
      (
        await mustRun("production", (v) => {
          githubOf(v).reviewers = { users: [583231], teams: [4012] };
        })
      ).registrations,
    );
    assert.deepEqual(graph.byRole("pipeline-environment", types.environment).inputs.reviewers, [
      { users: [583231], teams: [4012] },
    ]);
  });

  it("stage deploys wait for no one", async () => {
    const graph = new Graph((await mustRun("stage")).registrations);
    const environment = graph.byRole("pipeline-environment", types.environment);
    assert.equal(environment.inputs.reviewers, undefined);
  });
});

describe("Pipeline under mocks: what a stack may publish", () => {
  it("publishes the SSH key and the Netlify token as secrets when asked, never in plain text", async () => {
    const run = await mustRun("production", (v) => {
      githubOf(v).secrets = ["pulumiAccessToken", "sshPrivateKey", "netlifyToken"];
    });
    const graph = new Graph(run.registrations);
    const byName = new Map(graph.ofType(types.environmentSecret).map((r) => [r.inputs.secretName, r]));
    assert.deepEqual([...byName.keys()].sort(), ["NETLIFY_TOKEN", "PULUMI_ACCESS_TOKEN", "VPS_SSH_KEY"]);
    const expected: Record<string, string> = {
      NETLIFY_TOKEN: secretFor("netlifyToken"),
      PULUMI_ACCESS_TOKEN: secretFor("pulumiAccessToken"),
      VPS_SSH_KEY: secretFor("sshPrivateKey"),
    };
    for (const [name, registration] of byName) {
      assert.ok(isSecretValue(registration.inputs.value), `${name} is registered as a secret`);
      assert.equal(reveal(registration.inputs.value), expected[name as string]);
    }
    const keyLine = secretFor("sshPrivateKey").split("\n")[1];
    for (const needle of [keyLine, secretFor("netlifyToken")]) {
      for (const registration of run.registrations) {
        assert.deepEqual(plainOccurrences(registration.inputs, needle), [], registration.name);
      }
    }
  });

  it("a self-managed backend goes out as a variable, where previews and deploys find it", async () => {
    const graph = new Graph(
      (
        await mustRun(
          "production",
          (v) => {
            v.pulumiConfigPassphrase = "correct horse battery staple";
            githubOf(v).backendUrl = "s3://acme-pulumi-state/switchyard";
            githubOf(v).secrets = ["pulumiConfigPassphrase"];
            githubOf(v).repositorySecrets = ["pulumiConfigPassphrase"];
          },
          ["pulumiConfigPassphrase"],
        )
      ).registrations,
    );
    assert.equal(variablesOf(graph).PULUMI_BACKEND_URL, "s3://acme-pulumi-state/switchyard");
    const [repositoryVariable] = graph.ofType(types.repositoryVariable);
    assert.equal(repositoryVariable.inputs.variableName, "PULUMI_BACKEND_URL");
    assert.equal(repositoryVariable.inputs.value, "s3://acme-pulumi-state/switchyard");
    const secrets = [...graph.ofType(types.environmentSecret), ...graph.ofType(types.repositorySecret)];
    assert.deepEqual(
      secrets.map((r) => r.inputs.secretName),
      ["PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE"],
    );
    assert.ok(secrets.every((r) => isSecretValue(r.inputs.value)));
  });

  it("a stack without a github section manages nothing on GitHub", async () => {
    const run = await mustRun("dev");
    assert.deepEqual(
      run.registrations.filter((r) => r.type.startsWith("github:") || r.type === types.provider),
      [],
    );
    assert.equal(run.outputs.githubEnvironment, undefined);
  });
});
