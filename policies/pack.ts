/**
 * The switchyard policy pack's contents, for the stack it runs against. Plain module: tests
 * import it; only `index.ts` constructs the PolicyPack (which starts the analyzer's server).
 */
import type { PolicyPackArgs } from "@pulumi/policy";
import { sshHostKeyPinned } from "./rules/access";
import { appNonRoot, containerLimits, onlyRouterPublic } from "./rules/containers";
import { databaseVolumeProtected, dataStoresPrivate } from "./rules/data";
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

export function switchyardPack(facts: StackFacts): PolicyPackArgs {
  return {
    description: "Production rules for switchyard stacks: mandatory in production, advisory elsewhere.",
    enforcementLevel: enforcementLevelFor(facts),
    policies: [
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
      onlyRouterPublic,
      containerLimits,
      appNonRoot,
      routerTlsInProduction(facts),
      routerSecurityHeaders,
      secretsNotInPlainFields,
      secretsNotInPlainConfig(facts),
      githubProductionEnvironment(facts),
      sshHostKeyPinned,
    ],
  };
}
