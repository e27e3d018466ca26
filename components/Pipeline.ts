import * as github from "@pulumi/github";
import * as pulumi from "@pulumi/pulumi";
import {
  actionsSecretNames,
  actionsVariableNames,
  type ParsedStackConfig,
  type PublishedSecret,
} from "../infra/config";

export type GitHubSettings = NonNullable<ParsedStackConfig["github"]>;

export interface PipelineArgs {
  /** The validated `github` section of the stack config. */
  settings: GitHubSettings;
  /**
   * Stack secrets by config key: `githubToken` (what the provider acts with) and every key the
   * settings publish. Each value reaches GitHub as a secret and stays one in the state.
   */
  secrets: Partial<Record<PublishedSecret | "githubToken", pulumi.Input<string>>>;
  /** Fully qualified stack name (`org/project/stack`) the deploy job selects. */
  stack: string;
  /** The VPS the stack deploys to, published as VPS_HOST; absent for a local target. */
  vpsHost?: string;
}

/**
 * The GitHub side of one stack: the environment its deploy job runs in (required reviewers,
 * deployments from the default branch only) and the Actions secrets and variables its
 * workflows read. Each stack owns its own environment, so the stage and production stacks
 * never manage the same GitHub object; repository-level secrets (for pull-request previews)
 * belong to the one stack that lists them.
 */
export class Pipeline extends pulumi.ComponentResource {
  readonly environment: github.RepositoryEnvironment;
  readonly branchPolicy: github.RepositoryEnvironmentDeploymentPolicy;
  /** Names of the Actions secrets this stack publishes, by where they live. */
  readonly secretNames: { environment: string[]; repository: string[] };
  /** Names and values of the environment's Actions variables. */
  readonly variables: Record<string, string>;

  constructor(name: string, args: PipelineArgs, opts?: pulumi.ComponentResourceOptions) {
    super("switchyard:delivery:Pipeline", name, {}, opts);
    const { settings } = args;
    const provider = new github.Provider(
      `${name}-github`,
      { owner: settings.owner, token: pulumi.secret(requireSecret(args, "githubToken")) },
      { parent: this },
    );
    const child = { parent: this, provider };
    const repository = settings.repository;

    const users = reviewerIds(
      settings.reviewers.users,
      (username) => github.getUserOutput({ username }, child).id,
    );
    const teams = reviewerIds(settings.reviewers.teams, (slug) => github.getTeamOutput({ slug }, child).id);
    this.environment = new github.RepositoryEnvironment(
      `${name}-environment`,
      {
        repository,
        environment: settings.environment,
        reviewers: users.length + teams.length > 0 ? [{ users, teams }] : undefined,
        preventSelfReview: settings.preventSelfReview,
        // An approval rule that admins may skip is a suggestion.
        canAdminsBypass: false,
        deploymentBranchPolicy: { protectedBranches: false, customBranchPolicies: true },
      },
      child,
    );
    const environment = this.environment.environment;
    this.branchPolicy = new github.RepositoryEnvironmentDeploymentPolicy(
      `${name}-branch-policy`,
      { repository, environment, branchPattern: settings.defaultBranch },
      child,
    );

    this.secretNames = { environment: [], repository: [] };
    for (const key of settings.secrets) {
      const secretName = actionsSecretNames[key];
      new github.ActionsEnvironmentSecret(
        `${name}-secret-${secretName}`,
        { repository, environment, secretName, value: pulumi.secret(requireSecret(args, key)) },
        child,
      );
      this.secretNames.environment.push(secretName);
    }
    for (const key of settings.repositorySecrets) {
      const secretName = actionsSecretNames[key];
      new github.ActionsSecret(
        `${name}-repository-secret-${secretName}`,
        { repository, secretName, value: pulumi.secret(requireSecret(args, key)) },
        child,
      );
      this.secretNames.repository.push(secretName);
    }

    this.variables = {
      [actionsVariableNames.stack]: args.stack,
      ...(args.vpsHost === undefined ? {} : { [actionsVariableNames.vpsHost]: args.vpsHost }),
      ...(settings.backendUrl === undefined
        ? {}
        : { [actionsVariableNames.backendUrl]: settings.backendUrl }),
      ...settings.variables,
    };
    for (const [variableName, value] of Object.entries(this.variables)) {
      new github.ActionsEnvironmentVariable(
        `${name}-variable-${variableName}`,
        { repository, environment, variableName, value },
        child,
      );
    }
    // Previews run outside any environment: they find the backend where they find the token.
    if (settings.backendUrl !== undefined && settings.repositorySecrets.length > 0) {
      new github.ActionsVariable(
        `${name}-repository-variable-${actionsVariableNames.backendUrl}`,
        { repository, variableName: actionsVariableNames.backendUrl, value: settings.backendUrl },
        child,
      );
    }

    this.registerOutputs({ environment, secretNames: this.secretNames, variables: this.variables });
  }
}

function requireSecret(args: PipelineArgs, key: PublishedSecret | "githubToken"): pulumi.Input<string> {
  const value = args.secrets[key];
  if (value === undefined) throw new Error(`the github section needs ${key}, which is not set`);
  return value;
}

/** GitHub wants numeric ids; names are looked up through the provider. */
function reviewerIds(
  entries: (number | string)[],
  lookup: (name: string) => pulumi.Output<string>,
): pulumi.Input<number>[] {
  return entries.map((entry) => (typeof entry === "number" ? entry : lookup(entry).apply(Number)));
}
