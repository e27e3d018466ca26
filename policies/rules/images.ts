/** Where images come from: pinned registry images, and no builds on the deploying machine in production. */
import type { ResourceValidationArgs, ResourceValidationPolicy } from "@pulumi/policy";
import { unpinnedImageReason } from "../../infra/images";
import { accessoryOfImage, hasRole, roles } from "../../infra/names";
import { isBuiltImage, types } from "../resources";
import { isProduction, type StackFacts } from "../stack";

/** The config key each pulled image comes from, by the role of the image resource. */
const imageKeys: [role: string, key: string][] = [
  [roles.slotImage("blue"), "slots.blue.image"],
  [roles.slotImage("green"), "slots.green.image"],
  [roles.migrationImage, "migrations.image"],
  [`${roles.database}-image`, "database.image"],
  [`${roles.cache}-image`, "redis.image"],
  [`${roles.router}-image`, "router.image"],
];

function configKeyOf(args: ResourceValidationArgs): string {
  const accessory = accessoryOfImage(args.name);
  const key =
    imageKeys.find(([role]) => hasRole(args.name, role))?.[1] ??
    (accessory === undefined ? undefined : `accessories.${accessory}.image`);
  return `switchyard:${key ?? "<component>.image"}`;
}

/** An image id (`sha256:...`) names one image for good; only references can move. */
const imageId = /^sha256:[a-f0-9]{64}$/;

function imageReferenceOf(args: ResourceValidationArgs): string | undefined {
  // A build's name is a local tag; where it comes from is the next policy's question.
  if (args.type === types.remoteImage) return isBuiltImage(args) ? undefined : args.props.name;
  if (args.type === types.container) {
    const image = args.props.image;
    if (typeof image === "string" && image !== "" && !imageId.test(image)) return image;
  }
  return undefined;
}

export const imagesPinned: ResourceValidationPolicy = {
  name: "images-pinned",
  description: "Every image is pinned by digest or an immutable version tag: never `latest`, never untagged.",
  validateResource: (args, reportViolation) => {
    const reference = imageReferenceOf(args);
    const reason = reference === undefined ? undefined : unpinnedImageReason(reference);
    if (reason) {
      reportViolation(
        `${args.name}: image \`${reference}\` ${reason}, so a redeploy may run different code. ` +
          `Set ${configKeyOf(args)} to a digest (repo@sha256:...) or an immutable version tag (e.g. 2.15.0).`,
      );
    }
  },
};

export function registryImagesOnlyInProduction(facts: StackFacts): ResourceValidationPolicy {
  return {
    name: "registry-images-only-in-production",
    description: "Production runs images from a registry, never images built on the deploying machine.",
    validateResource: (args, reportViolation) => {
      if (!isBuiltImage(args)) return;
      if (!isProduction(facts)) args.notApplicable("local builds are for development stacks");
      const context = (args.props.build as { context?: string } | undefined)?.context ?? "a local directory";
      reportViolation(
        `${args.name} builds ${context} on the machine running Pulumi, which production cannot reproduce or audit. ` +
          `Push the image to your registry and set ${configKeyOf(args)} to its digest instead of \`build\`.`,
      );
    },
  };
}
