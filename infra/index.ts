/**
 * The switchyard program: validate the stack's config, then deploy it.
 * Nothing is registered when the config is invalid.
 */
import * as pulumi from "@pulumi/pulumi";
import { Deployment, keepsData } from "../components/Deployment";
import { DockerSshKeys } from "../components/providers/DockerSshKeys";
import { Pipeline } from "../components/Pipeline";
import { parseTarget } from "../components/target";
import { slotColours } from "./config";
import { unnamedDeployment } from "./names";
import { loadStackConfig } from "./stackConfig";

const config = loadStackConfig();
// Named for the deployment, or the stack: a stack from before deployments had names called it
// `switchyard`, and the alias keeps its resources.
const deployment = new Deployment(
  config.deployment ?? config.stack,
  { config },
  { aliases: [{ name: unnamedDeployment }] },
);

// The GitHub side stands apart from the deployment: a repository setting never waits for a container.
const target = parseTarget(config.target);
const pipeline = config.github
  ? new Pipeline("pipeline", {
      settings: config.github,
      secrets: config.secrets,
      stack: `${pulumi.getOrganization()}/${pulumi.getProject()}/${config.stack}`,
      vpsHost: target.kind === "ssh" ? target.host : undefined,
    })
  : undefined;

// Over SSH, what a destroy deletes first: it writes the key files the Docker provider needs then.
const sshKeys =
  target.kind === "ssh" && config.secrets.sshPrivateKey
    ? new DockerSshKeys(
        "docker-ssh-keys",
        { target, stack: config.stack, privateKey: config.secrets.sshPrivateKey },
        { dependsOn: [deployment] },
      )
    : undefined;

// Outside development the data is kept for good: its volume is protected. This protected resource
// depends on all the others, so `pulumi destroy` deletes it first and stops there; the volume alone
// refuses only once everything using it is gone, and `--skip-preview` would take the site down first.
if (keepsData(config)) {
  new pulumi.Stash(
    "keep-data-outside-development",
    // Its name is what the refusal shows: the why.
    { input: "`pulumi state unprotect` this resource, then destroy, to delete all but the kept volumes" },
    {
      protect: true,
      dependsOn: [deployment, ...(pipeline ? [pipeline] : []), ...(sshKeys ? [sshKeys] : [])],
    },
  );
}

/**
 * The stack outputs. Those a stack does not have (no GitHub side, no frontend, no migrations) are
 * left out rather than exported as undefined, which Pulumi warns about on every update.
 */
export = {
  environment: config.environment,
  activeSlot: config.activeSlot,
  slots: Object.fromEntries(
    slotColours.map((colour) => {
      const { image, build, binary, version } = config.slots[colour];
      const runs = deployment.slots[colour].processName;
      return [
        colour,
        config.app.runtime === "systemd"
          ? { binary, version, unit: runs }
          : { image: image ?? `built from ${build}`, version, container: runs },
      ];
    }),
  ),
  routerUrl: deployment.router.url,
  /** When the live certificate expires; `pulumi refresh` reads it again (an ACME client renews it on the target). */
  ...(config.secrets.tls || config.router.tls.acme
    ? { certificateExpiresAt: deployment.router.certificateExpiresAt }
    : {}),
  databaseName: config.database.name,
  snapshotDirectory: config.snapshots.directory,
  ...(config.migrations ? { migrationSet: config.migrations.version } : {}),
  ...(pipeline ? { githubEnvironment: pipeline.environment.environment } : {}),
  /** The dump taken before the current migration set ran; restore it with `npm run snapshot -- restore`. */
  ...(deployment.snapshot ? { lastSnapshot: deployment.snapshot.path } : {}),
  ...(deployment.frontend ? { frontendUrl: deployment.frontend.url } : {}),
};
