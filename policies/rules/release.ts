/**
 * The release order that makes a deploy safe: snapshot, migrations, slots, health gate, switch,
 * post-switch window, frontend. Stack rules read the graph and only outputs the providers return.
 */
import type { PolicyResource, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { upstreamServers } from "../../components/providers/routerState";
import { type SlotColour, slotColours } from "../../infra/stackKeys";
import {
  ancestorOfType,
  commandTypes,
  envMap,
  isUnder,
  routerUpstreamTypes,
  slotColourOf,
  types,
  waitsFor,
} from "../resources";
import { isProduction, type StackFacts } from "../stack";

const minimumRetention = 7;
const minimumPostSwitchWindowMs = 60_000;

function migrationCommands(resources: PolicyResource[]): PolicyResource[] {
  return resources.filter((r) => commandTypes.includes(r.type) && isUnder(r.urn, types.migrationJob));
}

export const snapshotBeforeMigration: StackValidationPolicy = {
  name: "snapshot-before-migration",
  description: "A fresh database snapshot, taken for the same migration set, precedes every migration job.",
  validateStack: (args, reportViolation) => {
    const snapshots = args.resources.filter((r) => r.type === types.pgSnapshot);
    for (const job of migrationCommands(args.resources)) {
      const awaited = snapshots.filter((snapshot) => waitsFor(job, snapshot));
      if (awaited.length === 0) {
        const why =
          snapshots.length === 0
            ? "the stack takes no snapshot (is switchyard:snapshots.skip set?)"
            : "it does not wait for the stack's PgSnapshot";
        reportViolation(
          `${job.name} runs migrations with no snapshot to restore if they go wrong: ${why}. ` +
            "Unset switchyard:snapshots.skip, and make the MigrationJob depend on the PgSnapshot.",
          job.urn,
        );
        continue;
      }
      const triggers = (job.props.triggers ?? []) as unknown[];
      if (!awaited.some((snapshot) => triggers.includes(snapshot.props.migrationSet))) {
        reportViolation(
          `${job.name} waits for a snapshot taken for migration set ${awaited.map((s) => JSON.stringify(s.props.migrationSet)).join(", ")}, ` +
            "not for the set it runs, so a new set would migrate without a new snapshot. " +
            "Give the PgSnapshot `migrationSet: migrations.version`, the value the job re-runs on.",
          job.urn,
        );
      }
    }
  },
};

export const snapshotRetention: ResourceValidationPolicy = {
  name: "snapshot-retention",
  description: `Database snapshots are kept at least ${minimumRetention} deep.`,
  validateResource: (args, reportViolation) => {
    if (args.type !== types.pgSnapshot) return;
    const retention = args.props.retention;
    if (typeof retention !== "number" || retention < minimumRetention) {
      reportViolation(
        `${args.name} keeps ${JSON.stringify(retention)} snapshots, so a bad release noticed a few deploys later has nothing to restore. ` +
          `Set switchyard:snapshots.retention to ${minimumRetention} or more.`,
      );
    }
  },
};

export const slotsAfterMigrations: StackValidationPolicy = {
  name: "slots-after-migrations",
  description: "App slots change only after the migration job has succeeded.",
  validateStack: (args, reportViolation) => {
    const jobs = migrationCommands(args.resources);
    const slots = args.resources.filter(
      (r) =>
        (r.type === types.container && isUnder(r.urn, types.appSlot)) ||
        (r.type === types.systemdService && isUnder(r.urn, types.nativeSlot)),
    );
    for (const slot of slots) {
      for (const job of jobs.filter((j) => !waitsFor(slot, j))) {
        reportViolation(
          `${slot.name} can start before ${job.name} has migrated the database, and would run new code against the old schema. ` +
            "Make each slot depend on the MigrationJob.",
          slot.urn,
        );
      }
    }
  },
};

/** The slots a traffic pointer sends requests to: the active one, and the idle one under a canary weight. */
function servedSlots(activeSlot: SlotColour, canaryWeight: number): SlotColour[] {
  return upstreamServers({ activeSlot, canaryWeight }).map(([slot]) => slot);
}

/** The gate's `guards` (a string or a map of strings) name what it vouched for. */
function guardsImage(gate: PolicyResource, image: unknown): boolean {
  const guards = gate.props.guards;
  const guarded = typeof guards === "string" ? [guards] : Object.values((guards ?? {}) as object);
  return typeof image === "string" && guarded.includes(image);
}

function isColour(value: unknown): value is SlotColour {
  return (slotColours as readonly unknown[]).includes(value);
}

export const routerBehindHealthGate: StackValidationPolicy = {
  name: "router-behind-health-gate",
  description:
    "The router sends traffic only to slots whose health gate passed for the slot's current image and version.",
  validateStack: (args, reportViolation) => {
    const upstreams = args.resources.filter((r) => routerUpstreamTypes.includes(r.type));
    for (const router of args.resources.filter((r) => r.type === types.router)) {
      if (!upstreams.some((upstream) => ancestorOfType(upstream, types.router) === router)) {
        reportViolation(
          `${router.name} has no RouterUpstream switch, so nothing holds traffic back until a health gate passes. ` +
            "Apply the router's upstream with the RouterUpstream resource, depending on the HealthGate of the slot it points at.",
          router.urn,
        );
      }
    }
    for (const upstream of upstreams) {
      const activeSlot = upstream.props.activeSlot;
      if (!isColour(activeSlot)) {
        reportViolation(
          `${upstream.name} points at ${JSON.stringify(activeSlot)}, which is not a slot (${slotColours.join(", ")}). Set switchyard:activeSlot.`,
          upstream.urn,
        );
        continue;
      }
      const report = (colour: SlotColour, problem: string) =>
        reportViolation(
          `${upstream.name} sends traffic to the ${colour} slot, but ${problem}. ` +
            "The switch must depend on that slot's HealthGate, whose guards name the slot's image and whose expectedVersion is its version.",
          upstream.urn,
        );
      const served = servedSlots(activeSlot, Number(upstream.props.canaryWeight ?? 0)).map((colour) => ({
        colour,
        gates: args.resources.filter(
          (r) => r.type === types.healthGate && inSlot(r, colour) && waitsFor(upstream, r),
        ),
      }));
      for (const { colour } of served.filter(({ gates }) => gates.length === 0)) {
        report(colour, "the switch does not wait for that slot's health gate");
      }
      // Values last: in a preview an image not pulled yet is unknown, and reading one ends this run of the policy.
      for (const { colour, gates } of served.filter(({ gates }) => gates.length > 0)) {
        const problem = staleGateProblem(args.resources, colour, gates);
        if (problem) report(colour, problem);
      }
    }
  },
};

function inSlot(resource: PolicyResource, colour: SlotColour): boolean {
  const slot = ancestorOfType(resource, types.appSlot) ?? ancestorOfType(resource, types.nativeSlot);
  return slot !== undefined && slotColourOf(slot) === colour;
}

/** Why the gates awaited for `colour` do not vouch for what the slot runs now, if they do not. */
function staleGateProblem(
  resources: PolicyResource[],
  colour: SlotColour,
  gates: PolicyResource[],
): string | undefined {
  const container = resources.find((r) => r.type === types.container && inSlot(r, colour));
  const unit = resources.find((r) => r.type === types.systemdService && inSlot(r, colour));
  if (!container && !unit) return "that slot has no container and no unit";
  const [what, runs, version] = container
    ? ["image", container.props.image, envMap(container.props).APP_VERSION]
    : ["binary", unit?.props.sha256, unit?.props.version];
  if (!gates.some((gate) => guardsImage(gate, runs))) {
    return `its health gate does not guard the ${what} the slot runs, so it may have passed for an earlier release`;
  }
  if (!gates.some((gate) => gate.props.expectedVersion === version)) {
    return `its health gate expects version ${JSON.stringify(gates[0].props.expectedVersion)} while the slot runs ${JSON.stringify(version)}`;
  }
  return undefined;
}

export function healthGatesNotForced(facts: StackFacts): ResourceValidationPolicy {
  return {
    name: "health-gates-not-forced",
    description:
      "In production health gates and the post-switch check pass only a healthy slot that stayed healthy for a window.",
    validateResource: (args, reportViolation) => {
      // The router switch carries its own post-switch check, with the same two settings.
      if (args.type !== types.healthGate && !routerUpstreamTypes.includes(args.type)) return;
      if (!isProduction(facts))
        args.notApplicable("degraded slots and instant gates are allowed outside production");
      if (args.props.allowDegraded !== false) {
        reportViolation(
          `${args.name} lets a degraded slot (HTTP 206) take production traffic. Set switchyard:health.allowDegraded to false.`,
        );
      }
      if (args.type === types.healthGate && !(Number(args.props.stableForMs) > 0)) {
        reportViolation(
          `${args.name} passes on a single good answer, with no stable-for window to catch a crash loop. ` +
            "Set switchyard:health.stableForSeconds above 0.",
        );
      }
    },
  };
}

export function postSwitchWindow(facts: StackFacts): ResourceValidationPolicy {
  return {
    name: "post-switch-window",
    description: `In production the router watches the new slot for at least ${minimumPostSwitchWindowMs / 1000} s after a switch.`,
    validateResource: (args, reportViolation) => {
      if (!routerUpstreamTypes.includes(args.type)) return;
      if (!isProduction(facts)) args.notApplicable("shorter post-switch windows are fine outside production");
      const windowMs = Number(args.props.stableForMs);
      if (!(windowMs >= minimumPostSwitchWindowMs)) {
        reportViolation(
          `${args.name} holds a switch after ${windowMs / 1000} s of healthy traffic; failures that take a minute to show (pools, caches, cron) would reach the frontend release. ` +
            `Set switchyard:health.postSwitchStableForSeconds to ${minimumPostSwitchWindowMs / 1000} or more.`,
        );
      }
    },
  };
}

export const frontendAfterSwitch: StackValidationPolicy = {
  name: "frontend-after-switch",
  description: "The frontend deploys only after the router switch and its post-switch window have held.",
  validateStack: (args, reportViolation) => {
    const upstreams = args.resources.filter((r) => routerUpstreamTypes.includes(r.type));
    for (const deploy of args.resources.filter((r) => r.type === types.netlifyDeploy)) {
      if (!upstreams.some((upstream) => waitsFor(deploy, upstream))) {
        reportViolation(
          `${deploy.name} can publish the frontend before the backend it calls is live and stable. ` +
            "Make the Frontend depend on the RouterUpstream switch (Frontend `after`).",
          deploy.urn,
        );
      }
    }
  },
};
