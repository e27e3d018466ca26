/**
 * What serves the router's state directory (routerState.ts): nginx or Caddy. The switch, the
 * watch and the rollback are the same for both; only testing a site generation, loading it, and
 * how requests are split into buckets differ, and they are chosen here by the server's kind.
 */
import { caddyBuckets, caddySiteFile, containerCaddy } from "./caddyConfig";
import { containerNginxMain, nginxBuckets, siteFile, testMainFile } from "./nginxConfig";
import type { RouterKind } from "../../infra/stackKeys";
import { type BucketScheme, routerLayout } from "./routerState";

export interface NginxServer {
  kind: Extract<RouterKind, "nginx">;
  /** nginx and its fixed options, without `-c`: `["nginx"]`, or `["/usr/sbin/nginx", "-p", prefix]`. */
  command: string[];
  /**
   * The main configuration nginx runs with (`renderNginxMain`, which includes the `current`
   * generation), e.g. `/etc/nginx/nginx.conf`.
   */
  mainConfig: string;
  /** The user nginx's workers run as, which must read the certificate's key; none when nginx runs unprivileged. */
  workerUser?: string;
}

export interface CaddyServer {
  kind: Extract<RouterKind, "caddy">;
  /** The `caddy` command: `["caddy"]`, or its path. */
  command: string[];
  /** The configuration Caddy runs with when no site is live (`renderCaddyBoot`): its admin endpoint only. */
  bootConfig: string;
  /** Caddy's admin endpoint, which every configuration keeps: `unix//run/caddy-admin.sock`. */
  adminAddress: string;
}

export type RouterServer = NginxServer | CaddyServer;

/** The server's commands, for a router whose state directory is `stateDir` (as the server sees it). */
export interface ServerCommands {
  /** The server's name in messages. */
  name: string;
  /** The files a site generation must have. */
  siteFiles: string[];
  /** The test, in words for the log. */
  testName: string;
  /** Tests the generation in `dir` as the server would load it. */
  test(dir: string): string[];
  /** Loads the `current` generation, or, with no site, a configuration that serves nothing. */
  reload(site: string | undefined): string[];
  buckets: BucketScheme;
  /** Who must read the certificate's key, when the server drops privileges. */
  secretOwner: string | undefined;
}

export function serverCommands(server: RouterServer, stateDir: string): ServerCommands {
  switch (server.kind) {
    case "nginx":
      return {
        name: "nginx",
        siteFiles: [siteFile, testMainFile],
        testName: "nginx -t",
        test: (dir) => [...server.command, "-t", "-c", `${dir}/${testMainFile}`],
        // The main configuration includes `current/*.conf`, which matches nothing without a site.
        reload: () => [...server.command, "-c", server.mainConfig, "-s", "reload"],
        buckets: nginxBuckets,
        secretOwner: server.workerUser,
      };
    case "caddy": {
      const config = (site: string | undefined) =>
        site === undefined ? server.bootConfig : `${routerLayout(stateDir).current}/${caddySiteFile}`;
      return {
        name: "Caddy",
        siteFiles: [caddySiteFile],
        testName: "caddy validate",
        test: (dir) => [...server.command, "validate", "--config", `${dir}/${caddySiteFile}`],
        reload: (site) => [
          ...server.command,
          "reload",
          "--config",
          config(site),
          "--address",
          server.adminAddress,
        ],
        buckets: caddyBuckets,
        secretOwner: undefined,
      };
    }
  }
}

/** Where the router container of `kind` mounts its state volume. */
export function containerStateDir(kind: RouterKind): string {
  switch (kind) {
    case "nginx":
      return containerNginxMain.stateDir;
    case "caddy":
      return containerCaddy.stateDir;
  }
}
