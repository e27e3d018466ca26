/**
 * A local stand-in for Netlify's API, for the real @netlify/api client. Every request is
 * checked against the published description (`netlifyOpenApi.ts`), and so is every answer the
 * stand-in gives; either kind of mismatch is recorded in `violations`. It keeps sites, their
 * variables, builds and deploys in memory, and answers the way Netlify does: bearer-token
 * auth with a JSON 401, JSON errors `{ code, message }`, deploys that move through their
 * states one status check at a time.
 */
import { randomUUID } from "node:crypto";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import type { NetlifyEndpoint } from "../../components/providers/NetlifyDeploy";
import { checkRequest, checkResponse, netlifyDescription, type RequestCheck } from "./netlifyOpenApi";

export interface FakeSite {
  id: string;
  name: string;
  accountId: string;
}

/** How the next build's deploy goes: the states status checks see, in order; the last one stays. */
export interface DeployScript {
  states: string[];
  /** Netlify's message for a deploy that ends in `error`. */
  errorMessage?: string;
  commitRef?: string;
}

export interface RecordedRequest {
  operationId: string;
  method: string;
  path: string;
  query: Record<string, string | string[]>;
  body: unknown;
  status: number;
}

interface StoredValue {
  id: string;
  context: string;
  value: string;
}

interface StoredDeploy {
  id: string;
  siteId: string;
  buildId: string;
  title: string;
  script: DeployScript;
  checks: number;
  cancelled: boolean;
  createdAt: string;
}

class Answer {
  constructor(
    readonly status: number,
    readonly body?: unknown,
  ) {}
}

const fail = (status: number, message: string) => new Answer(status, { code: status, message });

export class FakeNetlify {
  readonly requests: RecordedRequest[] = [];
  /** Requests or answers that do not match Netlify's description; a passing test leaves this empty. */
  readonly violations: string[] = [];
  /** Scripts for the builds to come, first in first used; an empty queue builds straight to ready. */
  readonly deployScripts: DeployScript[] = [];
  /** Errors to answer the next request of an operation with, once each, as Netlify words them. */
  readonly failNext: { operationId: string; status: number; message: string }[] = [];
  /** Variables by site id, then key. */
  readonly env = new Map<string, Map<string, StoredValue[]>>();
  readonly deploys = new Map<string, StoredDeploy>();
  readonly endpoint: NetlifyEndpoint;
  private readonly description = netlifyDescription();
  private readonly sites: Map<string, FakeSite>;

  private constructor(
    private readonly server: http.Server,
    private readonly token: string,
    sites: FakeSite[],
  ) {
    const { port } = server.address() as AddressInfo;
    this.endpoint = { scheme: "http", host: `127.0.0.1:${port}`, pathPrefix: this.description.basePath };
    this.sites = new Map(sites.map((site) => [site.id, site]));
    for (const site of sites) this.env.set(site.id, new Map());
  }

  static async start(options: { token: string; sites: FakeSite[] }): Promise<FakeNetlify> {
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const fake = new FakeNetlify(server, options.token, options.sites);
    server.on("request", (request: http.IncomingMessage, response: http.ServerResponse) => {
      const chunks: Buffer[] = [];
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => fake.handle(request, Buffer.concat(chunks), response));
    });
    return fake;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The site's variables as plain `key -> context -> value`. */
  envOf(siteId: string): Record<string, Record<string, string>> {
    const variables = this.env.get(siteId) ?? new Map<string, StoredValue[]>();
    return Object.fromEntries(
      [...variables].map(([key, values]) => [
        key,
        Object.fromEntries(values.map((v) => [v.context, v.value])),
      ]),
    );
  }

  /** Operation ids of the requests so far, in order. */
  operations(): string[] {
    return this.requests.map((request) => request.operationId);
  }

  private handle(request: http.IncomingMessage, body: Buffer, response: http.ServerResponse): void {
    const method = request.method ?? "GET";
    const check = checkRequest(this.description, {
      method,
      url: request.url ?? "/",
      headers: request.headers,
      body,
    });
    this.violations.push(...check.problems);
    let answer: Answer;
    if (!check.operation) answer = fail(404, "Not Found");
    else if (request.headers.authorization !== `Bearer ${this.token}`)
      answer = fail(401, "Access Denied: invalid token");
    else if (this.failNext[0]?.operationId === check.operationId) {
      const { status, message } = this.failNext.shift() as FakeNetlify["failNext"][number];
      answer = fail(status, message);
    } else if (check.problems.length > 0)
      answer = fail(422, `request does not match the API: ${check.problems.join("; ")}`);
    else answer = this.answer(check);
    if (check.operation) this.violations.push(...checkResponse(check.operation, answer.status, answer.body));
    this.requests.push({
      operationId: check.operationId ?? `${method} ${request.url}`,
      method,
      path: new URL(request.url ?? "/", "http://x").pathname,
      query: check.query,
      body: check.body,
      status: answer.status,
    });
    if (answer.body === undefined) {
      response.writeHead(answer.status).end();
      return;
    }
    response.writeHead(answer.status, { "content-type": "application/json; charset=utf-8" });
    response.end(JSON.stringify(answer.body));
  }

  private answer(check: RequestCheck): Answer {
    const params = { ...check.pathParams, ...check.query } as Record<string, string>;
    switch (check.operationId) {
      case "getSite": {
        const site = this.sites.get(params.site_id);
        return site ? new Answer(200, this.siteJson(site)) : fail(404, "Not Found");
      }
      case "getEnvVars":
        return this.withSite(
          params,
          (variables) =>
            new Answer(
              200,
              [...variables].map(([key, values]) => this.envVarJson(key, values)),
            ),
        );
      case "createEnvVars":
        return this.withSite(params, (variables) => {
          const created = check.body as { key: string; values?: { context: string; value: string }[] }[];
          const taken = created.find((variable) => variables.has(variable.key));
          if (taken) return fail(409, `Environment variable ${taken.key} already exists`);
          for (const variable of created)
            variables.set(
              variable.key,
              (variable.values ?? []).map((v) => ({ id: randomUUID(), context: v.context, value: v.value })),
            );
          return new Answer(
            201,
            created.map((variable) => this.envVarJson(variable.key, variables.get(variable.key) ?? [])),
          );
        });
      case "setEnvVarValue":
        return this.withSite(params, (variables) => {
          const values = variables.get(params.key);
          if (!values) return fail(404, "Environment variable not found");
          const { context, value } = check.body as { context: string; value: string };
          const existing = values.find((v) => v.context === context);
          if (existing) existing.value = value;
          else values.push({ id: randomUUID(), context, value });
          return new Answer(201, this.envVarJson(params.key, values));
        });
      case "deleteEnvVarValue":
        return this.withSite(params, (variables) => {
          const values = variables.get(params.key);
          const index = values?.findIndex((v) => v.id === params.id) ?? -1;
          if (!values || index < 0) return fail(404, "Environment variable value not found");
          values.splice(index, 1);
          if (values.length === 0) variables.delete(params.key);
          return new Answer(204);
        });
      case "deleteEnvVar":
        return this.withSite(params, (variables) =>
          variables.delete(params.key) ? new Answer(204) : fail(404, "Environment variable not found"),
        );
      case "createSiteBuild": {
        const site = this.sites.get(params.site_id);
        if (!site) return fail(404, "Not Found");
        const deploy: StoredDeploy = {
          id: randomUUID().replace(/-/g, "").slice(0, 24),
          siteId: site.id,
          buildId: randomUUID().replace(/-/g, "").slice(0, 24),
          title: params.title ?? "",
          script: this.deployScripts.shift() ?? { states: ["ready"] },
          checks: 0,
          cancelled: false,
          createdAt: new Date().toISOString(),
        };
        this.deploys.set(deploy.id, deploy);
        return new Answer(200, {
          id: deploy.buildId,
          deploy_id: deploy.id,
          done: false,
          created_at: deploy.createdAt,
        });
      }
      case "getDeploy": {
        const deploy = this.deploys.get(params.deploy_id);
        if (!deploy) return fail(404, "Not Found");
        deploy.checks++;
        return new Answer(200, this.deployJson(deploy));
      }
      case "cancelSiteDeploy": {
        const deploy = this.deploys.get(params.deploy_id);
        if (!deploy) return fail(404, "Not Found");
        deploy.cancelled = true;
        return new Answer(201, this.deployJson(deploy));
      }
      default:
        this.violations.push(`${check.operationId}: not simulated by the stand-in`);
        return fail(501, "not simulated");
    }
  }

  private withSite(
    params: Record<string, string>,
    work: (variables: Map<string, StoredValue[]>) => Answer,
  ): Answer {
    const site = params.site_id === undefined ? undefined : this.sites.get(params.site_id);
    if (!site || site.accountId !== params.account_id) return fail(404, "Not Found");
    return work(this.env.get(site.id) as Map<string, StoredValue[]>);
  }

  private siteJson(site: FakeSite): Record<string, unknown> {
    return {
      id: site.id,
      name: site.name,
      state: "current",
      url: `http://${site.name}.netlify.app`,
      ssl_url: `https://${site.name}.netlify.app`,
      admin_url: `https://app.netlify.com/sites/${site.name}`,
      account_id: site.accountId,
      account_slug: site.accountId,
      build_settings: { repo_branch: "main", provider: "github" },
    };
  }

  private envVarJson(key: string, values: StoredValue[]): Record<string, unknown> {
    return {
      key,
      scopes: ["builds", "functions", "runtime", "post-processing"],
      values: values.map((v) => ({ id: v.id, context: v.context, value: v.value })),
      is_secret: false,
      updated_at: new Date().toISOString(),
    };
  }

  private deployJson(deploy: StoredDeploy): Record<string, unknown> {
    const site = this.sites.get(deploy.siteId) as FakeSite;
    const { states } = deploy.script;
    const state = deploy.cancelled ? "error" : (states[Math.min(deploy.checks, states.length) - 1] ?? "new");
    const errorMessage = deploy.cancelled ? "Canceled build" : deploy.script.errorMessage;
    return {
      id: deploy.id,
      site_id: site.id,
      build_id: deploy.buildId,
      state,
      name: site.name,
      url: `http://${site.name}.netlify.app`,
      ssl_url: `https://${site.name}.netlify.app`,
      deploy_url: `http://${deploy.id}--${site.name}.netlify.app`,
      deploy_ssl_url: `https://${deploy.id}--${site.name}.netlify.app`,
      title: deploy.title,
      context: "production",
      branch: "main",
      ...(deploy.script.commitRef ? { commit_ref: deploy.script.commitRef } : {}),
      ...(state === "error" && errorMessage ? { error_message: errorMessage } : {}),
      ...(state === "ready" ? { published_at: new Date().toISOString() } : {}),
      created_at: deploy.createdAt,
      updated_at: new Date().toISOString(),
    };
  }
}
