/**
 * The `github` and `frontend` sections of the stack config, and the secrets they need: every
 * bad value is refused with its key path and what was expected, before anything is registered.
 */
import assert from "node:assert/strict";
import { ConfigError, parseStackConfig, type RawStackConfig } from "../../infra/config";
import { readStackFile, runProgram, type StackName, type StackValues } from "../support/program";

function rawOf(
  stack: StackName,
  mutate?: (values: StackValues) => void,
  plain: string[] = [],
): RawStackConfig {
  const { values, secretKeys } = readStackFile(stack);
  mutate?.(values);
  for (const key of plain) secretKeys.delete(key);
  return { values, secret: secretKeys };
}

function problemsOf(raw: RawStackConfig): string[] {
  try {
    parseStackConfig(raw);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `a ConfigError, not ${error}`);
    return error.problems;
  }
  assert.fail("the config was accepted");
}

type Section = Record<string, unknown>;
const github = (values: StackValues) => values.github as Section;
const frontend = (values: StackValues) => values.frontend as Section;

describe("delivery config", () => {
  it("the stage and production files carry both sections; dev carries neither", () => {
    for (const stack of ["stage", "production"] as const) {
      const config = parseStackConfig(rawOf(stack));
      assert.ok(config.github, `${stack} has a github section`);
      assert.ok(config.frontend, `${stack} has a frontend section`);
    }
    const dev = parseStackConfig(rawOf("dev"));
    assert.equal(dev.github, undefined);
    assert.equal(dev.frontend, undefined);
  });

  it("fills the defaults a small team wants", () => {
    const config = parseStackConfig(
      rawOf("stage", (v) => {
        v.github = { owner: "acme", repository: "shop", environment: "stage" };
        v.frontend = { siteId: "9a2d7e41-5c3b-4f08-b6e1-7d40c2a8f3e5" };
      }),
    );
    assert.deepEqual(config.github, {
      owner: "acme",
      repository: "shop",
      environment: "stage",
      defaultBranch: "main",
      reviewers: { users: [], teams: [] },
      preventSelfReview: false,
      secrets: ["pulumiAccessToken"],
      repositorySecrets: [],
      variables: {},
    });
    assert.deepEqual(config.frontend, {
      siteId: "9a2d7e41-5c3b-4f08-b6e1-7d40c2a8f3e5",
      apiUrlVariable: "API_URL",
      env: {},
      clearCache: false,
      deadlineSeconds: 900,
      pollIntervalSeconds: 5,
    });
  });

  const cases: {
    name: string;
    stack: StackName;
    expected: RegExp;
    mutate?: (values: StackValues) => void;
    plain?: string[];
  }[] = [
    {
      name: "github section without a token",
      stack: "stage",
      expected: /^switchyard:githubToken: required with the github section/,
      mutate: (v) => void delete v.githubToken,
    },
    {
      name: "GitHub token in plain text",
      stack: "production",
      expected: /^switchyard:githubToken: holds a secret but is in plain text/,
      plain: ["githubToken"],
    },
    {
      name: "production without a reviewer",
      stack: "production",
      expected: /^switchyard:github\.reviewers: production deploys need at least one required reviewer/,
      mutate: (v) => void delete github(v).reviewers,
    },
    {
      name: "seven reviewers",
      stack: "production",
      expected: /^switchyard:github\.reviewers: GitHub allows at most six reviewers/,
      mutate: (v) => {
        github(v).reviewers = { users: ["a1", "a2", "a3", "a4"], teams: ["t1", "t2", "t3"] };
      },
    },
    {
      name: "reviewer that is neither a login nor an id",
      stack: "production",
      expected: /^switchyard:github\.reviewers\.users\.0: a GitHub user or organization name/,
      mutate: (v) => {
        github(v).reviewers = { users: ["maria ops"] };
      },
    },
    {
      name: "published secret that is not set",
      stack: "production",
      expected: /^switchyard:netlifyToken: published by github\.secrets but not set/,
      mutate: (v) => {
        github(v).secrets = ["pulumiAccessToken", "netlifyToken"];
        delete v.netlifyToken;
        delete v.frontend;
      },
    },
    {
      name: "a secret listed twice",
      stack: "stage",
      expected: /^switchyard:github\.secrets: lists a secret twice/,
      mutate: (v) => {
        github(v).secrets = ["pulumiAccessToken", "pulumiAccessToken"];
      },
    },
    {
      name: "a secret switchyard does not publish",
      stack: "stage",
      expected: /^switchyard:github\.secrets\.1: expected one of "pulumiAccessToken"/,
      mutate: (v) => {
        github(v).secrets = ["pulumiAccessToken", "tlsKey"];
      },
    },
    {
      name: "no way for the workflows to log in to Pulumi",
      stack: "stage",
      expected: /^switchyard:github\.secrets: must list pulumiAccessToken unless github\.backendUrl is set/,
      mutate: (v) => {
        github(v).secrets = [];
      },
    },
    {
      name: "a self-managed backend with a Pulumi Cloud token",
      stack: "production",
      expected: /^switchyard:github\.backendUrl: a self-managed backend takes no Pulumi access token/,
      mutate: (v) => {
        github(v).backendUrl = "s3://acme-pulumi-state";
      },
    },
    {
      name: "backend URL that is not one",
      stack: "stage",
      expected: /^switchyard:github\.backendUrl: a Pulumi backend URL/,
      mutate: (v) => {
        github(v).backendUrl = "acme-pulumi-state";
      },
    },
    {
      name: "variable switchyard sets itself",
      stack: "stage",
      expected: /^switchyard:github\.variables\.PULUMI_STACK: is set by switchyard itself/,
      mutate: (v) => {
        github(v).variables = { PULUMI_STACK: "acme/other" };
      },
    },
    {
      name: "variable in GitHub's namespace",
      stack: "stage",
      expected: /^switchyard:github\.variables\.GITHUB_REGION: GitHub reserves the GITHUB_ prefix/,
      mutate: (v) => {
        github(v).variables = { GITHUB_REGION: "eu" };
      },
    },
    {
      name: "secret parked in a variable",
      stack: "stage",
      expected: /^switchyard:github\.variables\.DEPLOY_TOKEN: looks like a secret/,
      mutate: (v) => {
        github(v).variables = { DEPLOY_TOKEN: "abc" };
      },
    },
    {
      name: "owner with a space",
      stack: "stage",
      expected: /^switchyard:github\.owner: a GitHub user or organization name/,
      mutate: (v) => {
        github(v).owner = "acme corp";
      },
    },
    {
      name: "default branch with ..",
      stack: "stage",
      expected: /^switchyard:github\.defaultBranch: a branch name/,
      mutate: (v) => {
        github(v).defaultBranch = "release/../main";
      },
    },
    {
      name: "unknown github key",
      stack: "stage",
      expected: /^switchyard:github\.reviewer: unknown key/,
      mutate: (v) => {
        github(v).reviewer = "maria-ops";
      },
    },
    {
      name: "frontend without a Netlify token",
      stack: "stage",
      expected: /^switchyard:netlifyToken: required with the frontend section/,
      mutate: (v) => void delete v.netlifyToken,
    },
    {
      name: "Netlify token in plain text",
      stack: "production",
      expected: /^switchyard:netlifyToken: holds a secret but is in plain text/,
      plain: ["netlifyToken"],
    },
    {
      name: "site name instead of site id",
      stack: "stage",
      expected: /^switchyard:frontend\.siteId: a Netlify site id/,
      mutate: (v) => {
        frontend(v).siteId = "shop-stage";
      },
    },
    {
      name: "site variable that the router URL fills",
      stack: "production",
      expected: /^switchyard:frontend\.env\.VITE_API_URL: is set from the router URL/,
      mutate: (v) => {
        frontend(v).env = { VITE_API_URL: "https://elsewhere.example.com" };
      },
    },
    {
      name: "secret parked in a site variable",
      stack: "production",
      expected: /^switchyard:frontend\.env\.VITE_STRIPE_SECRET: looks like a secret/,
      mutate: (v) => {
        frontend(v).env = { VITE_STRIPE_SECRET: "sk_live_abc" };
      },
    },
    {
      name: "deadline of zero",
      stack: "stage",
      expected: /^switchyard:frontend\.deadlineSeconds: .*>0/,
      mutate: (v) => {
        frontend(v).deadlineSeconds = 0;
      },
    },
    {
      name: "deadline over two hours",
      stack: "stage",
      expected: /^switchyard:frontend\.deadlineSeconds: .*<=7200/,
      mutate: (v) => {
        frontend(v).deadlineSeconds = 86_400;
      },
    },
    {
      name: "revision with a space",
      stack: "production",
      expected: /^switchyard:frontend\.revision: a commit sha or a release tag/,
      mutate: (v) => {
        frontend(v).revision = "web v3";
      },
    },
  ];

  for (const { name, stack, expected, mutate, plain } of cases) {
    it(`refuses ${name}`, () => {
      const problems = problemsOf(rawOf(stack, mutate, plain));
      assert.ok(
        problems.some((problem) => expected.test(problem)),
        `${expected} in:\n${problems.join("\n")}`,
      );
    });
  }

  it("never echoes a token given in the wrong place", () => {
    const token = "ghp_ThisIsAVeryRealLookingTokenValue1234";
    const problems = problemsOf(
      rawOf(
        "production",
        (v) => {
          v.githubToken = token;
          github(v).variables = { DEPLOY_TOKEN: token };
        },
        ["githubToken"],
      ),
    );
    assert.ok(problems.length >= 2, problems.join("\n"));
    assert.ok(!problems.join("\n").includes(token));
  });

  it("the program stops before registering anything", async () => {
    const run = await runProgram("production", { mutate: (v) => void delete github(v).reviewers });
    assert.match(String(run.error?.message), /switchyard:github\.reviewers: production deploys need/);
    assert.deepEqual(run.registrations, []);
  });
});
