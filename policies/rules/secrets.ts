/**
 * Secrets stay in secret channels. Policies receive values with their secret marking removed,
 * so these rules look for secret material by its shape in the places that are plain by
 * construction: command lines, scripts, labels, published variables, and plain config keys.
 * Messages name where a secret was found, never the secret.
 */
import type { ResourceValidationArgs, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { secretKeys } from "../../infra/stackKeys";
import { commandTypes, types } from "../resources";
import type { StackFacts } from "../stack";

const secretShapes: [RegExp, string][] = [
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----/, "a private key"],
  [/\b[a-z][a-z0-9+.-]*:\/\/[^\s/@:]*:[^\s/@]+@/i, "a URL with a password"],
  [/\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})/, "a GitHub token"],
  [/\bpul-[0-9a-f]{40}\b/, "a Pulumi access token"],
  [/\bnfp_[A-Za-z0-9]{30,}/, "a Netlify token"],
  [/\b(?:sk|rk)_live_[A-Za-z0-9]{16,}/, "a Stripe secret key"],
  [/\bAKIA[0-9A-Z]{16}\b/, "an AWS access key"],
  [/\bxox[abprs]-[A-Za-z0-9-]{10,}/, "a Slack token"],
];

/** `PGPASSWORD=...`, `--password=...`, `requirepass ...` in a command line; `$VAR` references are fine. */
const secretAssignment =
  /(?:\b[A-Z0-9_]*(?:SECRET|PASSWORD|PASSWD|TOKEN|PRIVATE_KEY|API_?KEY|CREDENTIAL)[A-Z0-9_]*=|--?(?:password|passwd|token|secret|api-key)[= ]|\brequirepass +)(?!["']?\$)[^\s"'$]/i;

/** What kind of secret `text` holds, if any. */
export function secretMaterialIn(text: string, inCommandLine: boolean): string | undefined {
  const shape = secretShapes.find(([pattern]) => pattern.test(text));
  if (shape) return shape[1];
  return inCommandLine && secretAssignment.test(text) ? "a secret assigned on a command line" : undefined;
}

/** Every string in `value` with the path it sits at. */
function strings(value: unknown, at: string): [string, string][] {
  if (typeof value === "string") return [[at, value]];
  if (Array.isArray(value)) return value.flatMap((inner, index) => strings(inner, `${at}[${index}]`));
  if (value && typeof value === "object")
    return Object.entries(value).flatMap(([key, inner]) => strings(inner, at ? `${at}.${key}` : key));
  return [];
}

/** Fields that are plain by construction, by resource type, and whether they are command lines. */
function plainFields(args: ResourceValidationArgs): { fields: string[]; commandLine: boolean } | undefined {
  if (args.type === types.container)
    return {
      fields: ["command", "entrypoints", "labels", "healthcheck", "hostname", "workingDir"],
      commandLine: true,
    };
  if (commandTypes.includes(args.type))
    return { fields: ["create", "update", "delete", "triggers", "interpreter", "dir"], commandLine: true };
  if (args.type === types.remoteImage) return { fields: ["build"], commandLine: true };
  if (args.type === types.dockerProvider) return { fields: ["host"], commandLine: false };
  if (args.type === types.actionsVariable || args.type === types.actionsEnvironmentVariable)
    return { fields: ["variableName", "value"], commandLine: true };
  if (args.type === types.netlifyDeploy) return { fields: ["env", "title"], commandLine: false };
  return undefined;
}

export const secretsNotInPlainFields: ResourceValidationPolicy = {
  name: "secrets-not-in-plain-fields",
  description:
    "No secret in a command line, script, label, build arg, Actions variable or site variable; those are shown and stored in plain text.",
  validateResource: (args, reportViolation) => {
    const plain = plainFields(args);
    if (!plain) return;
    for (const field of plain.fields) {
      for (const [path, text] of strings(args.props[field], field)) {
        const found = secretMaterialIn(text, plain.commandLine);
        if (found) {
          reportViolation(
            `${args.name}.${path} holds ${found}, in a field that previews show and the state stores unencrypted. ` +
              "Pass it through a secret channel instead: appSecrets (container env), stdin or the command's environment, an Actions secret.",
          );
        }
      }
    }
  },
};

export function secretsNotInPlainConfig(facts: StackFacts): StackValidationPolicy {
  return {
    name: "secrets-not-in-plain-config",
    description: "Plain stack config holds no secret; secrets are set with `pulumi config set --secret`.",
    validateStack: (_args, reportViolation) => {
      const plainKeys = Object.keys(facts.config).filter(
        (key) => !(secretKeys as readonly string[]).includes(key),
      );
      for (const key of plainKeys) {
        for (const [path, text] of strings(facts.config[key], key)) {
          const found = secretMaterialIn(text, false);
          if (found) {
            reportViolation(
              `switchyard:${path} holds ${found} in plain config, readable by anyone with the repository. ` +
                "Move it to a secret key: app environment secrets go to `pulumi config set --secret --path appSecrets.<NAME>`.",
            );
          }
        }
      }
    },
  };
}
