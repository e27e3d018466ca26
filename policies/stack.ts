/**
 * What the pack knows about the stack it checks. The engine starts a policy pack with the
 * stack's name and config in its environment (PULUMI_NODEJS_STACK, PULUMI_CONFIG) as it does
 * the program, so the pack reads them through the same runtime calls the program uses.
 */
import type { EnforcementLevel } from "@pulumi/policy";
import * as pulumi from "@pulumi/pulumi";
import { decodeRawConfig } from "../infra/config";

export interface StackFacts {
  stack: string;
  /**
   * The stack's config by key without the `switchyard:` prefix, objects decoded from JSON.
   * Secrets are in it in plain text: never quote a value in a violation message.
   */
  config: Record<string, unknown>;
}

export function currentStackFacts(): StackFacts {
  return {
    stack: pulumi.getStack(),
    config: decodeRawConfig(pulumi.runtime.allConfig(), () => false).values,
  };
}

/** Production is what the stack says it is (`switchyard:environment`), or a stack named so. */
export function isProduction(facts: StackFacts): boolean {
  return facts.config.environment === "production" || facts.stack === "production";
}

/** Violations block production; elsewhere they are warnings. */
export function enforcementLevelFor(facts: StackFacts): EnforcementLevel {
  return isProduction(facts) ? "mandatory" : "advisory";
}
