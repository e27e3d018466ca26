/** The GitHub side: who may release to production, and from where. */
import type { PolicyResource, StackValidationPolicy } from "@pulumi/policy";
import { types } from "../resources";
import { isProduction, type StackFacts } from "../stack";

interface Reviewers {
  users?: unknown[];
  teams?: unknown[];
}

/** Problems of one production environment, given the branch policies that apply to it. */
function environmentProblems(
  environment: PolicyResource,
  branchPolicies: PolicyResource[],
  defaultBranch: string,
): string[] {
  const problems: string[] = [];
  const reviewers = ((environment.props.reviewers ?? []) as Reviewers[]).reduce(
    (count, entry) => count + (entry.users?.length ?? 0) + (entry.teams?.length ?? 0),
    0,
  );
  if (reviewers === 0)
    problems.push(
      "it requires no reviewer, so a deploy starts without anyone approving it (switchyard:github.reviewers)",
    );
  if (environment.props.canAdminsBypass !== false)
    problems.push("repository admins may bypass its approval (set canAdminsBypass: false)");
  const branchRule = environment.props.deploymentBranchPolicy as
    { customBranchPolicies?: boolean; protectedBranches?: boolean } | undefined;
  if (branchRule?.customBranchPolicies !== true || branchRule.protectedBranches !== false)
    problems.push(
      "it does not restrict deployments to named branches (deploymentBranchPolicy.customBranchPolicies)",
    );
  const patterns = branchPolicies.map((p) => p.props.branchPattern ?? `tag ${p.props.tagPattern}`);
  if (patterns.length === 0 || patterns.some((pattern) => pattern !== defaultBranch))
    problems.push(
      `it deploys from ${patterns.length === 0 ? "no branch policy" : patterns.join(", ")} rather than only the default branch ${defaultBranch} (switchyard:github.defaultBranch)`,
    );
  return problems;
}

export function githubProductionEnvironment(facts: StackFacts): StackValidationPolicy {
  return {
    name: "github-production-environment",
    description:
      "The production GitHub environment requires a reviewer and deploys only from the default branch.",
    validateStack: (args, reportViolation) => {
      const github = facts.config.github as { defaultBranch?: string } | undefined;
      const defaultBranch = github?.defaultBranch ?? "main";
      const environments = args.resources.filter(
        (r) =>
          r.type === types.repositoryEnvironment &&
          (isProduction(facts) || r.props.environment === "production"),
      );
      for (const environment of environments) {
        const branchPolicies = args.resources.filter(
          (r) =>
            r.type === types.environmentBranchPolicy &&
            r.props.repository === environment.props.repository &&
            r.props.environment === environment.props.environment,
        );
        for (const problem of environmentProblems(environment, branchPolicies, defaultBranch)) {
          reportViolation(
            `GitHub environment ${environment.props.environment} guards production, but ${problem}.`,
            environment.urn,
          );
        }
      }
    },
  };
}
