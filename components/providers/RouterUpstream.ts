/**
 * RouterUpstream: what the router serves and where its traffic goes, applied to a running nginx
 * or Caddy without dropping a request (see routerState.ts for the mechanism, nginxConfig.ts and
 * caddyConfig.ts for each server's part, and routerServer.ts for what differs between them).
 *
 * An update puts a new certificate in place first (written beside the live one, then the
 * `certificate` link swapped: new handshakes get it, nothing reloads), applies a changed site
 * generation (write beside the live one, `nginx -t` the whole configuration, swap the `current`
 * link, reload once), then moves traffic by swapping the `live` link, then watches the router's check listener for the post-switch window. If the
 * router does not hold, everything the update changed is put back and the update fails, so
 * Pulumi's state and what is live agree. `read` reports the live pointer, so `pulumi refresh`
 * finds a switch made by hand.
 */
import * as pulumi from "@pulumi/pulumi";
import { BundledResource, bundledProvider } from "./bundledProvider";
import type { RouterKind, SlotColour } from "../../infra/stackKeys";
import { executorTarget, withExecutor } from "./executor";
import { type ArgsOf, canonical, checked } from "./inputs";
import {
  certificateId,
  describeTraffic,
  generationId,
  parseRoute,
  routeName,
  type Traffic,
} from "./routerState";
import { type RouterUpstreamInputs, routerInputProblems } from "./routerInputs";
import { undoingOnFailure } from "./routerRollback";
import type { RouterServer } from "./routerServer";
import { RouterSession } from "./routerSession";
import { holdThroughRouter } from "./routerWatch";

export type { RouterUpstreamInputs, RouterVerification } from "./routerInputs";

/** State: the inputs but the files (the generation and certificate ids stand for them), and what was verified. */
export interface RouterUpstreamOutputs extends Omit<
  RouterUpstreamInputs,
  "files" | "secretFiles" | "activeSlot"
> {
  /** Undefined only when `read` found no traffic pointer. */
  activeSlot: SlotColour | undefined;
  /** The live site generation. */
  generation: string | undefined;
  /** The live certificate's id; absent without TLS. */
  certificate?: string;
  /** Whether the maintenance page is up; absent in the state of routers from before it existed. */
  maintenance?: boolean;
  /** When the live certificate expires (ISO 8601); absent without one. */
  certificateExpiresAt?: string;
  /** The ACME client's last renewal failure, while it has not renewed since; absent otherwise. */
  renewalError?: string;
  /** When the router last held the post-switch window, and on which version. */
  verifiedAt: string;
  verifiedVersion: string;
}

/** Inputs a diff compares one by one; the files are compared by their generation id. */
const inputKeys = [
  "activeSlot",
  "canaryWeight",
  "executor",
  "exec",
  "server",
  "stateDir",
  "checkHost",
  "checkPort",
  "path",
  "expectedVersion",
  "stableForMs",
  "intervalMs",
  "timeoutMs",
  "allowDegraded",
  "smokeChecks",
  "maintenancePage",
  "acme",
] as const;

/** The pasted certificate the inputs ask for, by id; undefined without one (no TLS, or ACME's). */
function wantedCertificate(inputs: Pick<RouterUpstreamInputs, "secretFiles">): string | undefined {
  return Object.keys(inputs.secretFiles).length > 0 ? certificateId(inputs.secretFiles) : undefined;
}

/**
 * Whether there is a certificate to report on: one pasted (the inputs' files, or its id in the
 * state) or one from ACME. Without one, an update reads nothing more from the router.
 */
function servesTls(
  from: Partial<Pick<RouterUpstreamInputs, "secretFiles" | "acme">> & { certificate?: string },
): boolean {
  return (
    from.acme !== undefined ||
    from.certificate !== undefined ||
    Object.keys(from.secretFiles ?? {}).length > 0
  );
}

/** The certificate's outputs: each is left out when there is nothing to say (the engine refuses undefined). */
function certificateOutputs(status: { expiresAt?: string; renewalError?: string }) {
  return {
    ...(status.expiresAt ? { certificateExpiresAt: status.expiresAt } : {}),
    ...(status.renewalError ? { renewalError: status.renewalError } : {}),
  };
}

/** What nginx routers from before the `server` input kept instead of it. */
interface LegacyNginxState {
  nginx?: string[];
  mainConfig?: string;
  workerUser?: string;
}

/**
 * The state with its `server`: routers created before Caddy came hold nginx's settings at the top
 * level, which their next update replaces with `server`.
 */
function withServer(state: RouterUpstreamOutputs): RouterUpstreamOutputs {
  if (state.server !== undefined) return state;
  const { nginx, mainConfig, workerUser, ...rest } = state as RouterUpstreamOutputs & LegacyNginxState;
  const server: RouterServer = {
    kind: "nginx",
    command: nginx ?? ["nginx"],
    mainConfig: mainConfig ?? "/etc/nginx/nginx.conf",
    ...(workerUser ? { workerUser } : {}),
  };
  return { ...rest, server };
}

/** Applies the inputs to the router and verifies; on any failure puts back what it changed. */
async function apply(
  inputs: RouterUpstreamInputs,
  olds: RouterUpstreamOutputs | undefined,
): Promise<RouterUpstreamOutputs> {
  const id = generationId(inputs.files);
  const site = `sites/${id}`;
  const certificate = wantedCertificate(inputs);
  const traffic: Traffic = { activeSlot: inputs.activeSlot, canaryWeight: inputs.canaryWeight };
  const log = (message: string) => process.stderr.write(`router ${inputs.stateDir}: ${message}\n`);

  return withExecutor(inputs.executor, async (executor) => {
    const forwarded = await executor.forward(inputs.checkHost, inputs.checkPort);
    try {
      const checkUrl = `http://${forwarded.host}:${forwarded.port}`;
      const router = new RouterSession(executor, inputs, checkUrl);
      const before = await router.live();
      const siteChanged = before.site !== site;
      // The ACME client owns the certificate link when there is one.
      const certificateChanged =
        inputs.acme === undefined &&
        before.certificate !== (certificate ? `certificates/${certificate}` : undefined);
      const trafficChanged = before.route !== `routes/${routeName(traffic)}`;
      const previous = before.route ? parseRoute(before.route) : undefined;
      // A switch (not a canary weight, not a repair of the same slot) holds the previous slot as
      // a fallback for the post-switch window.
      const switching =
        trafficChanged && previous !== undefined && previous.activeSlot !== traffic.activeSlot;
      const verifiedAt = await undoingOnFailure(router, before, async (moved) => {
        const moveCertificate = async () => {
          if (certificate) await router.stageCertificate(certificate, inputs.secretFiles);
          moved.certificate = true;
          await router.pointCertificate(certificate ? `certificates/${certificate}` : undefined);
          log(certificate ? `new handshakes get certificate ${certificate}` : "no certificate is live");
        };
        // A new certificate goes first, so a site that starts serving TLS finds it; the last one
        // goes only once the site that stops serving TLS is live.
        if (certificateChanged && certificate) await moveCertificate();
        if (siteChanged) {
          await router.stage(id, inputs.files);
          log(`configuration ${id} passed ${router.test}; loading it`);
          moved.site = true;
          await router.goLive(site);
        }
        if (certificateChanged && !certificate) await moveCertificate();
        // Once the site serves the CA's challenges, and before traffic moves: a refused order
        // leaves traffic where it was.
        if (inputs.acme) {
          log(`asking the ACME client for a certificate for ${inputs.acme.names.join(", ")}`);
          await router.ensureAcmeCertificate(inputs.acme);
        }
        if (trafficChanged) {
          moved.traffic = true;
          await router.point(switching ? { ...traffic, fallback: true } : traffic);
          log(
            `traffic now goes to ${describeTraffic(traffic)}` +
              (switching ? `, falling back to ${previous?.activeSlot} for the post-switch window` : ""),
          );
        }
        let verified: string | undefined;
        if (siteChanged || trafficChanged || olds?.expectedVersion !== inputs.expectedVersion) {
          verified = await holdThroughRouter(inputs, checkUrl, describeTraffic(traffic), (message) =>
            log(`post-switch check: ${message}`),
          );
        }
        if (switching) await router.point(traffic);
        return verified;
      });
      // Last, once the rest held: it is the operator's, and nothing above puts it back.
      const maintenance = inputs.maintenancePage !== undefined;
      if (maintenance || before.maintenance) {
        await router.maintenance(inputs.maintenancePage);
        log(maintenance ? "maintenance page up: public requests get it with a 503" : "maintenance page down");
      }
      if (siteChanged) await router.prune("sites", id);
      if (certificateChanged) await router.prune("certificates", certificate);
      const status = servesTls(inputs) ? await router.certificateStatus(inputs.acme) : {};
      if (status.expiresAt) log(`the live certificate expires at ${status.expiresAt}`);

      const { files: _files, secretFiles: _secretFiles, ...kept } = inputs;
      return {
        ...kept,
        generation: id,
        ...(certificate ? { certificate } : {}),
        maintenance,
        ...certificateOutputs(status),
        verifiedAt: verifiedAt ?? olds?.verifiedAt ?? "",
        verifiedVersion: verifiedAt ? inputs.expectedVersion : (olds?.verifiedVersion ?? ""),
      };
    } finally {
      await forwarded.close();
    }
  });
}

/**
 * Thin on purpose: check validates, diff says what changed (nothing replaces but the state
 * directory), create and update apply and verify, read reports the live pointer, delete
 * removes the state directory's contents. Routing reads the pointer per request, so after a
 * delete the router answers 503 at once; a container started later serves nothing stale.
 */
export const routerUpstreamProvider: pulumi.dynamic.ResourceProvider<
  RouterUpstreamInputs,
  RouterUpstreamOutputs
> = {
  async check(_olds, news) {
    return checked(news, routerInputProblems(news));
  },

  async diff(_id, olds, news) {
    const changes: string[] = [];
    if (generationId(news.files) !== olds.generation) changes.push("files");
    if (news.acme === undefined && wantedCertificate(news) !== olds.certificate) changes.push("secretFiles");
    if ((news.maintenancePage !== undefined) !== (olds.maintenance ?? false)) changes.push("maintenancePage");
    for (const key of inputKeys) {
      if (canonical(olds[key]) !== canonical(news[key])) changes.push(key);
    }
    // A new state directory is a new router state: the new one is written before the old one goes.
    const replaces = changes.filter((key) => key === "stateDir");
    return { changes: changes.length > 0, replaces, deleteBeforeReplace: false };
  },

  async create(inputs) {
    const outs = await apply(inputs, undefined);
    return { id: `${executorTarget(inputs.executor)}:${inputs.stateDir}`, outs };
  },

  async update(_id, olds, news) {
    return { outs: await apply(news, olds) };
  },

  async read(id, props) {
    if (!props?.executor) throw new Error(`${id}: reading needs the state this resource was created with`);
    const state = withServer(props);
    const found = await withExecutor(state.executor, async (executor) => {
      const router = new RouterSession(executor, state, "http://127.0.0.1");
      if (!(await router.present())) return undefined;
      const status = servesTls(state) ? await router.certificateStatus(state.acme) : {};
      return { live: await router.live(), status };
    });

    // No router to serve it (its container removed or stopped), or nothing of its state left:
    // the resource is gone, and the next `up` applies it again to the router it recreates.
    if (found === undefined || (found.live.route === undefined && found.live.site === undefined)) return {};
    const { live, status } = found;
    const traffic = live.route ? parseRoute(live.route) : undefined;
    // The engine refuses an undefined property ("Unexpected struct type"): a missing pointer or
    // site (a router that started without one) is a missing key, which the next diff sees.
    const {
      activeSlot: _activeSlot,
      generation: _generation,
      certificate: _certificate,
      certificateExpiresAt: _expiresAt,
      renewalError: _renewalError,
      ...kept
    } = state;
    return {
      id,
      props: {
        ...kept,
        canaryWeight: traffic?.canaryWeight ?? 0,
        ...(traffic ? { activeSlot: traffic.activeSlot } : {}),
        ...(live.site ? { generation: live.site.replace(/^sites\//, "") } : {}),
        ...(live.certificate && !state.acme
          ? { certificate: live.certificate.replace(/^certificates\//, "") }
          : {}),
        maintenance: live.maintenance,
        ...certificateOutputs(status),
      } as RouterUpstreamOutputs,
    };
  },

  async delete(_id, olds) {
    await withExecutor(olds.executor, async (executor) => {
      const router = new RouterSession(executor, withServer(olds), "http://127.0.0.1");
      // A router stopped or removed by hand serves nothing: its state stays on its volume, which
      // goes with the router or is taken over by the next upstream applied to it.
      if (await router.present()) await router.removeState();
    });
  },
};

/** The resource's arguments: the provider's inputs, each one an Input. */
export type RouterUpstreamArgs = ArgsOf<RouterUpstreamInputs>;

/**
 * The resource type of each server's router: nginx's keeps the type it had before Caddy came, so
 * existing stacks see no new resource.
 */
const typeNames: Record<RouterKind, string> = { nginx: "NginxUpstream", caddy: "CaddyUpstream" };

/** The router's live configuration and traffic pointer; see the file comment. */
export class RouterUpstream extends BundledResource {
  declare readonly activeSlot: pulumi.Output<SlotColour>;
  declare readonly canaryWeight: pulumi.Output<number>;
  /** The live site generation id. */
  declare readonly generation: pulumi.Output<string>;
  /** The live certificate's id, without TLS none. */
  declare readonly certificate: pulumi.Output<string | undefined>;
  /** Whether the maintenance page is up. */
  declare readonly maintenance: pulumi.Output<boolean>;
  /** When the live certificate expires (ISO 8601); without TLS, undefined. */
  declare readonly certificateExpiresAt: pulumi.Output<string | undefined>;
  /** The ACME client's last renewal failure, while it has not renewed since. */
  declare readonly renewalError: pulumi.Output<string | undefined>;
  /** When the router last held the post-switch window, and on which version. */
  declare readonly verifiedAt: pulumi.Output<string>;
  declare readonly verifiedVersion: pulumi.Output<string>;

  /** `server` is plain: its kind names the resource type. */
  constructor(
    name: string,
    args: Omit<RouterUpstreamArgs, "server"> & { server: RouterServer },
    opts?: pulumi.CustomResourceOptions,
  ) {
    super(
      bundledProvider(__filename, { routerUpstreamProvider }),
      name,
      {
        ...args,
        // The ssh key travels inside `executor`, the TLS key inside `secretFiles`.
        executor: pulumi.secret(args.executor),
        secretFiles: pulumi.secret(args.secretFiles),
        generation: undefined,
        certificate: undefined,
        maintenance: undefined,
        certificateExpiresAt: undefined,
        renewalError: undefined,
        verifiedAt: undefined,
        verifiedVersion: undefined,
      },
      { ...opts, additionalSecretOutputs: [...(opts?.additionalSecretOutputs ?? []), "executor"] },
      "switchyard",
      typeNames[args.server.kind],
    );
  }
}
