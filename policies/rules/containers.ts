/** How every container runs: limited, restarted, reachable only where it should be, and the app unprivileged. */
import type { ResourceValidationPolicy } from "@pulumi/policy";
import {
  describePort,
  isLoopbackOnly,
  isUnder,
  publishedPorts,
  routerSiteFacts,
  routerUpstreamTypes,
  types,
} from "../resources";

/** `listen` addresses of the router's site that are not loopback: where it serves the public. */
function publicListeners(listeners: string[]): string[] {
  return [...new Set(listeners.filter((address) => !/^(127\.0\.0\.1|localhost|\[::1\]):/.test(address)))];
}

export const onlyRouterPublic: ResourceValidationPolicy = {
  name: "only-router-public",
  description:
    "Only the router serves on public addresses, HTTP and HTTPS only; every other container binds loopback only and stays out of the host's network.",
  validateResource: (args, reportViolation) => {
    if (routerUpstreamTypes.includes(args.type)) {
      const listeners = publicListeners(routerSiteFacts(args).listeners);
      // The public server and, with TLS, the redirecting one; the check listener is on loopback.
      if (listeners.length > 2) {
        reportViolation(
          `the router serves the public on ${listeners.join(", ")}; it serves HTTP and HTTPS only. ` +
            "Render the site with renderRouterSite or renderCaddySite (switchyard:router.httpPort and httpsPort choose the ports).",
        );
      }
      return;
    }
    if (args.type !== types.container) return;
    // Data stores have their own, stricter rule (data-stores-private).
    if (isUnder(args.urn, types.database) || isUnder(args.urn, types.cache)) return;
    const isRouter = isUnder(args.urn, types.router);
    if (!isRouter && args.props.networkMode === "host") {
      reportViolation(
        `${args.name} uses the host's network, so everything it listens on is on the machine's public addresses, bypassing the router. ` +
          "Leave networkMode unset: only the router runs in the host's network.",
      );
    }
    const open = publishedPorts(args.props).filter((port) => !isLoopbackOnly(port));
    if (open.length > 0) {
      reportViolation(
        `${args.name} publishes ${open.map(describePort).join(", ")} on a public address, bypassing the router (TLS, headers, switching). ` +
          "Bind it to 127.0.0.1 (health gates reach it through the SSH tunnel) or drop the port.",
      );
    }
  },
};

const restartPolicies = ["always", "unless-stopped", "on-failure"];

export const containerLimits: ResourceValidationPolicy = {
  name: "container-limits",
  description: "Every container has a memory limit and a restart policy.",
  validateResource: (args, reportViolation) => {
    if (args.type !== types.container) return;
    const { memory, restart } = args.props;
    if (typeof memory !== "number" || memory <= 0) {
      reportViolation(
        `${args.name} has no memory limit, so one leak can starve the database and the other slot on the same host. ` +
          "Set a limit (switchyard:app.resources.memoryMb, database.resources, redis.resources; the router sets its own).",
      );
    }
    if (!restartPolicies.includes(restart)) {
      reportViolation(
        `${args.name} has restart policy ${JSON.stringify(restart ?? "no")}, so a crash or a host reboot leaves it down. ` +
          `Use one of ${restartPolicies.join(", ")} (switchyard:app.restartPolicy for the slots).`,
      );
    }
  },
};

/** `root`, uid 0, with or without a group. */
const rootUser = /^(root|0)(:.*)?$/;

export const appNonRoot: ResourceValidationPolicy = {
  name: "app-non-root",
  description: "The app runs as a non-root user.",
  validateResource: (args, reportViolation) => {
    if (args.type !== types.container || !isUnder(args.urn, types.appSlot)) return;
    const user = args.props.user;
    if (typeof user !== "string" || user === "") {
      reportViolation(
        `${args.name} runs as whatever user its image declares, often root. ` +
          'Set switchyard:app.user to an unprivileged user, e.g. "1000:1000".',
      );
    } else if (rootUser.test(user)) {
      reportViolation(
        `${args.name} runs as root (${user}), so a compromised app owns the container. ` +
          'Set switchyard:app.user to an unprivileged user, e.g. "1000:1000".',
      );
    }
  },
};
