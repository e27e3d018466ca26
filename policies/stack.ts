/**
 * What the pack knows about the stack it checks. A Pulumi CLI that runs the pack through the
 * Node language host (3.248 does) gives it no stack in its environment: it sends the stack's
 * name and config in the analyzer's ConfigureStack call, after the pack has started, and
 * @pulumi/policy 1.21 keeps only the tags of that call. `followConfigureStack` reads the rest as
 * it arrives; an older CLI sets PULUMI_NODEJS_STACK and PULUMI_CONFIG, read at start.
 */
import type { EnforcementLevel } from "@pulumi/policy";
import * as pulumi from "@pulumi/pulumi";
import { decodeRawConfig } from "../infra/stackKeys";

export interface StackFacts {
  stack: string;
  /**
   * The stack's config by key without the `switchyard:` prefix, objects decoded from JSON.
   * Secrets are in it in plain text: never quote a value in a violation message.
   */
  config: Record<string, unknown>;
}

export function currentStackFacts(): StackFacts {
  return stackFacts(pulumi.getStack(), pulumi.runtime.allConfig());
}

/** `config`: full keys (`switchyard:environment`) to the text Pulumi hands over. */
export function stackFacts(stack: string, config: Record<string, string>): StackFacts {
  return { stack, config: decodeRawConfig(config, () => false).values };
}

/** The part of the engine's ConfigureStack request the pack reads. */
export interface StackConfigureRequest {
  getStack(): string;
  getConfigMap(): { toObject(): [string, string][] };
}

/**
 * Keeps `facts` (the object every policy holds) up to date with each ConfigureStack request,
 * by wrapping the request decoder of the analyzer service definition the policy server uses.
 */
export function followConfigureStack(
  method: { requestDeserialize: (bytes: Buffer) => StackConfigureRequest },
  facts: StackFacts,
): void {
  const decode = method.requestDeserialize;
  method.requestDeserialize = (bytes) => {
    const request = decode(bytes);
    Object.assign(
      facts,
      stackFacts(request.getStack(), Object.fromEntries(request.getConfigMap().toObject())),
    );
    return request;
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
