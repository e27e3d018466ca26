/**
 * The switchyard policy pack's contents, for the stack it runs against. Plain module: tests
 * import it; only `index.ts` constructs the PolicyPack (which starts the analyzer's server).
 */
import type { Policies, PolicyPackArgs } from "@pulumi/policy";
import { sshHostKeyPinned } from "./rules/access";
import { appNonRoot, containerLimits, onlyRouterPublic } from "./rules/containers";
import { accessoryVolumesProtected, databaseVolumeProtected, dataStoresPrivate } from "./rules/data";
import { githubProductionEnvironment } from "./rules/delivery";
import { imagesPinned, registryImagesOnlyInProduction } from "./rules/images";
import {
  frontendAfterSwitch,
  healthGatesNotForced,
  postSwitchWindow,
  routerBehindHealthGate,
  slotsAfterMigrations,
  snapshotBeforeMigration,
  snapshotRetention,
} from "./rules/release";
import { routerSecurityHeaders, routerTlsInProduction } from "./rules/router";
import { secretsNotInPlainConfig, secretsNotInPlainFields } from "./rules/secrets";
import { enforcementLevelFor, type StackFacts } from "./stack";

/**
 * The pack for the stack `facts` describes, read when each policy runs, never at construction:
 * the engine may describe the stack only after the pack started (see stack.ts).
 */
export function switchyardPack(facts: StackFacts): PolicyPackArgs {
  const policies: Policies = [
    imagesPinned,
    registryImagesOnlyInProduction(facts),
    snapshotBeforeMigration,
    snapshotRetention,
    slotsAfterMigrations,
    routerBehindHealthGate,
    healthGatesNotForced(facts),
    postSwitchWindow(facts),
    frontendAfterSwitch,
    dataStoresPrivate,
    databaseVolumeProtected,
    accessoryVolumesProtected,
    onlyRouterPublic,
    containerLimits,
    appNonRoot,
    routerTlsInProduction(facts),
    routerSecurityHeaders,
    secretsNotInPlainFields,
    secretsNotInPlainConfig(facts),
    githubProductionEnvironment(facts),
    sshHostKeyPinned,
  ];
  return {
    description: "Production rules for switchyard stacks: mandatory in production, advisory elsewhere.",
    policies: policies.map((policy) =>
      Object.defineProperty({ ...policy }, "enforcementLevel", {
        get: () => enforcementLevelFor(facts),
        enumerable: true,
      }),
    ),
  };
}
