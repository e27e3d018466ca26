/**
 * The Netlify frontend deploy with the real @netlify/api client, against a local stand-in that
 * checks every request (and every answer it gives) against Netlify's published API description,
 * directly and through the provider's serialized form as Pulumi's dynamic provider host runs it.
 */
import assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { Frontend } from "../../components/Frontend";
import {
  type NetlifyDeployInputs,
  type NetlifyDeployOutputs,
  NetlifyDeploy,
  netlifyApiEndpoint,
  netlifyDeployProvider,
  netlifyInputProblems,
  publishFrontend,
} from "../../components/providers/NetlifyDeploy";
import { callSerializedProvider, providerTextOf } from "../support/dynamicProvider";
import { checkRequest, netlifyDescription, type ReceivedRequest } from "../support/netlifyOpenApi";
import { FakeNetlify, type FakeSite } from "../support/netlifyServer";
import { isSecretValue } from "../support/program";

const token = "nfp_switchyardTestToken0123456789abcdef";
const site: FakeSite = {
  id: "3f6c1a52-8d0b-4c61-9a47-2e5b7d9f1c08",
  name: "shop-web",
  accountId: "acme-team",
};

function inputsFor(fake: FakeNetlify, overrides: Partial<NetlifyDeployInputs> = {}): NetlifyDeployInputs {
  return {
    siteId: site.id,
    token,
    env: { VITE_API_URL: "https://api.shop.example.com", VITE_SITE_NAME: "Shop" },
    revision: "web-v3.8.0",
    backendVersion: "2.15.0",
    title: "switchyard production: backend 2.15.0, frontend web-v3.8.0",
    clearCache: false,
    deadlineMs: 10_000,
    pollIntervalMs: 10,
    api: fake.endpoint,
    ...overrides,
  };
}

/** Runs the deploy with the real client, as the provider does, collecting its progress lines. */
async function publish(
  inputs: NetlifyDeployInputs,
  droppedEnv: string[] = [],
): Promise<{ outs: NetlifyDeployOutputs; progress: string[] }> {
  const { NetlifyAPI } = require("@netlify/api") as typeof import("@netlify/api");
  const progress: string[] = [];
  const client = new NetlifyAPI(inputs.token, { ...inputs.api, userAgent: "switchyard-test" });
  const outs = await publishFrontend(client, inputs, droppedEnv, (line) => progress.push(line));
  return { outs, progress };
}

async function rejection(work: Promise<unknown>): Promise<Error> {
  try {
    await work;
  } catch (error) {
    assert.ok(error instanceof Error, `an Error, not ${String(error)}`);
    return error;
  }
  assert.fail("it succeeded");
}

describe("Netlify API description check", () => {
  const description = netlifyDescription();
  const request = (overrides: Partial<ReceivedRequest>): ReceivedRequest => ({
    method: "GET",
    url: `/api/v1/sites/${site.id}`,
    headers: { authorization: `Bearer ${token}` },
    body: Buffer.alloc(0),
    ...overrides,
  });
  const problemsOf = (overrides: Partial<ReceivedRequest>) =>
    checkRequest(description, request(overrides)).problems;

  it("accepts a request as the description states it", () => {
    const check = checkRequest(description, request({}));
    assert.equal(check.operationId, "getSite");
    assert.deepEqual(check.problems, []);
    assert.deepEqual(check.pathParams, { site_id: site.id });
  });

  it("refuses what Netlify would not understand", () => {
    assert.match(problemsOf({ method: "PUT", url: "/api/v1/deploys/abc" }).join(), /no operation/);
    assert.match(problemsOf({ url: "/v1/sites/x" }).join(), /outside the API's base path/);
    assert.match(
      problemsOf({ url: `/api/v1/sites/${site.id}?siteId=x` }).join(),
      /query siteId: not a parameter/,
    );
    assert.match(
      problemsOf({ method: "POST", url: `/api/v1/sites/${site.id}/builds?clear_cache=yes` }).join(),
      /clear_cache: expected true or false/,
    );
    assert.match(
      problemsOf({ url: "/api/v1/accounts/acme/env?context_name=staging" }).join(),
      /"staging" is not one of "all"/,
    );
    assert.match(problemsOf({ headers: {} }).join(), /no bearer token/);
  });

  it("checks a JSON body against its schema, misspelt fields included", () => {
    const post = (body: unknown) =>
      problemsOf({
        method: "PATCH",
        url: "/api/v1/accounts/acme/env/API_URL",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: Buffer.from(JSON.stringify(body)),
      });
    assert.deepEqual(post({ context: "production", value: "https://x" }), []);
    assert.match(post({ context: "prod", value: "https://x" }).join(), /"prod" is not one of/);
    assert.match(post({ context: "production", valeu: "https://x" }).join(), /valeu: not a property/);
    assert.match(post({ context: "production", value: 7 }).join(), /value: expected a string, got number/);
    assert.match(post([{ context: "production" }]).join(), /expected an object, got array/);
    assert.match(
      problemsOf({ method: "GET", body: Buffer.from("{}") }).join(),
      /sends a body, but the operation takes none/,
    );
  });
});

describe("Netlify frontend deploy against the API stand-in", function () {
  this.timeout(30_000);
  let fake: FakeNetlify;

  beforeEach(async () => {
    fake = await FakeNetlify.start({ token, sites: [site] });
  });
  afterEach(async () => {
    await fake.close();
  });

  it("sets the site's production variables, then builds, and waits through building until ready", async () => {
    fake.deployScripts.push({ states: ["enqueued", "building", "building", "ready"], commitRef: "9fceb02" });
    const { outs, progress } = await publish(inputsFor(fake));
    assert.deepEqual(fake.violations, []);
    assert.deepEqual(fake.envOf(site.id), {
      VITE_API_URL: { production: "https://api.shop.example.com" },
      VITE_SITE_NAME: { production: "Shop" },
    });
    const operations = fake.operations();
    assert.deepEqual(operations.slice(0, 4), ["getSite", "getEnvVars", "createEnvVars", "createEnvVars"]);
    assert.equal(operations[4], "createSiteBuild", "variables are in place before the build starts");
    assert.deepEqual(operations.slice(5), ["getDeploy", "getDeploy", "getDeploy", "getDeploy"]);
    const build = fake.requests[4];
    assert.deepEqual(build.query, { title: inputsFor(fake).title });
    const deploy = [...fake.deploys.values()][0];
    assert.deepEqual(outs, {
      siteId: site.id,
      env: inputsFor(fake).env,
      revision: "web-v3.8.0",
      backendVersion: "2.15.0",
      siteName: "shop-web",
      accountId: "acme-team",
      buildId: deploy.buildId,
      deployId: deploy.id,
      state: "ready",
      url: "https://shop-web.netlify.app",
      deployUrl: `https://${deploy.id}--shop-web.netlify.app`,
      commitRef: "9fceb02",
      publishedAt: outs.publishedAt,
    });
    assert.match(outs.publishedAt, /^\d{4}-\d\d-\d\dT/);
    for (const state of ["enqueued", "building", "ready"])
      assert.ok(
        progress.some((line) => line.includes(`: ${state} after`)),
        `progress shows ${state}`,
      );
    assert.ok(progress.every((line) => !line.includes(token)));
  });

  it("writes only the variables that differ, and drops the ones no longer wanted", async () => {
    await publish(inputsFor(fake, { env: { VITE_API_URL: "https://a", OLD_FLAG: "on", KEEP: "1" } }));
    const firstRun = fake.requests.length;
    await publish(inputsFor(fake, { env: { VITE_API_URL: "https://b", KEEP: "1" } }), ["OLD_FLAG"]);
    assert.deepEqual(fake.violations, []);
    const writes = fake.requests
      .slice(firstRun)
      .filter((r) => r.method !== "GET" && r.operationId !== "createSiteBuild");
    assert.deepEqual(
      writes.map((r) => [r.operationId, envKeyOf(r.path)]),
      [
        ["setEnvVarValue", "VITE_API_URL"],
        ["deleteEnvVarValue", "OLD_FLAG"],
      ],
    );
    assert.deepEqual(fake.envOf(site.id), {
      VITE_API_URL: { production: "https://b" },
      KEEP: { production: "1" },
    });
  });

  it("keeps values the site holds for other contexts", async () => {
    await publish(inputsFor(fake, { env: { VITE_API_URL: "https://a" } }));
    fake.env
      .get(site.id)
      ?.get("VITE_API_URL")
      ?.push({ id: "preview-1", context: "deploy-preview", value: "https://pr" });
    await publish(inputsFor(fake, { env: { VITE_API_URL: "https://b" } }));
    assert.deepEqual(fake.envOf(site.id), {
      VITE_API_URL: { production: "https://b", "deploy-preview": "https://pr" },
    });
  });

  it("fails with Netlify's own message when the deploy ends in error, and puts the variables back", async () => {
    await publish(inputsFor(fake, { env: { VITE_API_URL: "https://a", VITE_SITE_NAME: "Shop" } }));
    fake.deployScripts.push({
      states: ["building", "error"],
      errorMessage: "Build script returned non-zero exit code: 2",
    });
    const error = await rejection(
      publish(inputsFor(fake, { env: { VITE_API_URL: "https://b", VITE_NEW: "x" } }), ["VITE_SITE_NAME"]),
    );
    assert.match(
      error.message,
      /Netlify deploy \w+ ended in error: Build script returned non-zero exit code: 2/,
    );
    assert.match(error.message, /the site's variables are back as they were/);
    assert.deepEqual(fake.violations, []);
    assert.deepEqual(fake.envOf(site.id), {
      VITE_API_URL: { production: "https://a" },
      VITE_SITE_NAME: { production: "Shop" },
    });
  });

  it("a variable write refused half-way undoes the writes before it", async () => {
    await publish(inputsFor(fake, { env: { VITE_API_URL: "https://a" } }));
    fake.failNext.push({ operationId: "createEnvVars", status: 422, message: "Key VITE_NEW is reserved" });
    const error = await rejection(
      publish(inputsFor(fake, { env: { VITE_API_URL: "https://b", VITE_NEW: "x" } })),
    );
    assert.match(error.message, /Netlify createEnvVars failed: 422 Key VITE_NEW is reserved/);
    assert.match(error.message, /the site's variables are back as they were/);
    assert.deepEqual(fake.envOf(site.id), { VITE_API_URL: { production: "https://a" } });
    assert.equal(fake.deploys.size, 1, "no build started");
    assert.deepEqual(fake.violations, []);
  });

  it("a refused token fails clearly, before anything changes, and the token appears nowhere", async () => {
    const wrong = "nfp_revokedToken9876543210fedcba";
    const error = await rejection(publish(inputsFor(fake, { token: wrong })));
    assert.match(
      error.message,
      /Netlify getSite failed: 401 Access Denied: invalid token: Netlify refused the token; check netlifyToken/,
    );
    assert.ok(!JSON.stringify(error, Object.getOwnPropertyNames(error)).includes(wrong));
    assert.deepEqual(fake.operations(), ["getSite"]);
    assert.deepEqual(fake.envOf(site.id), {});
    assert.deepEqual(fake.violations, []);
  });

  it("an unknown site is Netlify's 404, named", async () => {
    const error = await rejection(
      publish(inputsFor(fake, { siteId: "00000000-0000-4000-8000-000000000000" })),
    );
    assert.match(error.message, /Netlify getSite failed: 404 Not Found/);
  });

  it("cancels a deploy that is not ready by the deadline, and puts the variables back", async () => {
    fake.deployScripts.push({ states: ["building"] });
    const error = await rejection(
      publish(
        inputsFor(fake, { deadlineMs: 300, pollIntervalMs: 20, env: { VITE_API_URL: "https://late" } }),
      ),
    );
    assert.match(error.message, /was not ready within 300 ms \(last state: building\); cancelled it/);
    assert.ok([...fake.deploys.values()][0].cancelled);
    assert.deepEqual(fake.envOf(site.id), {});
    assert.deepEqual(fake.violations, []);
  });

  it("an unreachable API is named without the request it carried", async () => {
    const closed = { ...fake.endpoint };
    await fake.close();
    const error = await rejection(publish(inputsFor(fake, { api: closed })));
    assert.match(error.message, /Netlify getSite failed: cannot reach Netlify's API: ECONNREFUSED/);
    assert.ok(!JSON.stringify(error, Object.getOwnPropertyNames(error)).includes(token));
    fake = await FakeNetlify.start({ token, sites: [site] });
  });
});

/** The variable a request is about: `/api/v1/accounts/<account>/env/<key>[/value/<id>]`. */
function envKeyOf(path: string): string | undefined {
  const parts = path.split("/");
  return parts[parts.indexOf("env") + 1];
}

describe("NetlifyDeploy provider: check and diff", () => {
  const fakeEndpoint = { scheme: "http" as const, host: "127.0.0.1:9", pathPrefix: "/api/v1" };
  const inputs = (overrides: Partial<NetlifyDeployInputs> = {}): NetlifyDeployInputs => ({
    siteId: site.id,
    token,
    env: { A: "1", B: "2" },
    revision: "r1",
    backendVersion: "2.15.0",
    title: "t",
    clearCache: false,
    deadlineMs: 1000,
    pollIntervalMs: 10,
    api: fakeEndpoint,
    ...overrides,
  });
  const diff = (olds: Partial<NetlifyDeployInputs>, news: Partial<NetlifyDeployInputs>) =>
    netlifyDeployProvider.diff?.(site.id, inputs(olds) as unknown as NetlifyDeployOutputs, inputs(news));

  it("names each bad input, and never quotes the token", () => {
    const problems = netlifyInputProblems(
      inputs({
        siteId: "shop-web",
        token: "has a space",
        deadlineMs: 0,
        api: { ...fakeEndpoint, host: "a b" },
      }),
    );
    assert.deepEqual(
      problems.map((p) => p.property),
      ["siteId", "token", "deadlineMs", "api"],
    );
    assert.ok(!JSON.stringify(problems).includes("has a space"));
    assert.deepEqual(netlifyInputProblems(inputs()), []);
  });

  it("re-deploys exactly when the site, revision, backend version or variables change", async () => {
    assert.deepEqual(await diff({}, {}), { changes: false, replaces: [], deleteBeforeReplace: false });
    assert.equal((await diff({ env: { B: "2", A: "1" } }, {}))?.changes, false, "key order is not a change");
    const howOnly: Partial<NetlifyDeployInputs>[] = [
      { title: "other" },
      { deadlineMs: 5000 },
      { pollIntervalMs: 50 },
      { token: "nfp_rotated" },
    ];
    for (const how of howOnly) assert.equal((await diff({}, how))?.changes, false, JSON.stringify(how));
    const what: Partial<NetlifyDeployInputs>[] = [
      { revision: "r2" },
      { backendVersion: "2.16.0" },
      { env: { A: "1", B: "3" } },
      { env: { A: "1" } },
    ];
    for (const change of what)
      assert.deepEqual(await diff({}, change), { changes: true, replaces: [], deleteBeforeReplace: false });
    assert.deepEqual(await diff({}, { siteId: "9a2d7e41-5c3b-4f08-b6e1-7d40c2a8f3e5" }), {
      changes: true,
      replaces: ["siteId"],
      deleteBeforeReplace: false,
    });
  });
});

describe("NetlifyDeploy provider: serialized, as the dynamic provider host runs it", function () {
  this.timeout(120_000);
  let fake: FakeNetlify;

  before(async () => {
    fake = await FakeNetlify.start({ token, sites: [site] });
  });
  after(async () => {
    await fake.close();
  });

  const register = (inputs: NetlifyDeployInputs) => () => new NetlifyDeploy("frontend-deploy", inputs);

  it("serializes without capturing live values", async () => {
    const text = await providerTextOf(register(inputsFor(fake)));
    assert.ok(!text.includes(token), "the token is an input, never part of the provider");
  });

  it("checks, creates, diffs and updates against the stand-in", async () => {
    const inputs = inputsFor(fake);
    const text = await providerTextOf(register(inputs));
    const checked = (await callSerializedProvider(text, "check", {}, inputs)) as { failures: unknown[] };
    assert.deepEqual(checked.failures, []);

    fake.deployScripts.push({ states: ["building", "ready"] });
    const created = (await callSerializedProvider(text, "create", inputs)) as {
      id: string;
      outs: NetlifyDeployOutputs;
    };
    assert.equal(created.id, site.id);
    assert.equal(created.outs.state, "ready");
    assert.equal(created.outs.deployId, [...fake.deploys.keys()].at(-1));
    assert.ok(!("token" in created.outs), "the token stays out of the outputs");
    assert.ok(!JSON.stringify(created).includes(token));

    const same = (await callSerializedProvider(text, "diff", created.id, created.outs, inputs)) as {
      changes: boolean;
    };
    assert.equal(same.changes, false, "an unchanged frontend is not re-deployed");

    const next = { ...inputs, backendVersion: "2.16.0" };
    const moved = (await callSerializedProvider(text, "diff", created.id, created.outs, next)) as {
      changes: boolean;
    };
    assert.equal(moved.changes, true);
    const updated = (await callSerializedProvider(text, "update", created.id, created.outs, next)) as {
      outs: NetlifyDeployOutputs;
    };
    assert.notEqual(updated.outs.deployId, created.outs.deployId);
    assert.equal(updated.outs.backendVersion, "2.16.0");
    assert.deepEqual(fake.violations, []);
  });

  it("fails a create with Netlify's error message, not the token", async () => {
    const inputs = inputsFor(fake);
    const text = await providerTextOf(register(inputs));
    fake.deployScripts.push({ states: ["error"], errorMessage: "Deploy directory 'dist' does not exist" });
    const failed = await rejection(callSerializedProvider(text, "create", inputs));
    assert.match(failed.message, /ended in error: Deploy directory 'dist' does not exist/);
    const refused = await rejection(
      callSerializedProvider(text, "create", { ...inputs, token: "nfp_wrongToken1234567890" }),
    );
    assert.match(refused.message, /401 .*check netlifyToken/);
    assert.ok(!refused.message.includes("nfp_wrongToken1234567890"));
  });
});

describe("Frontend under mocks", () => {
  it("registers one NetlifyDeploy with the API URL in the site's variables and the token secret", async () => {
    const registered: pulumi.runtime.MockResourceArgs[] = [];
    await pulumi.runtime.setMocks(
      {
        newResource: (args) => {
          registered.push(args);
          return { id: `${args.name}-id`, state: args.inputs };
        },
        call: (args) => args.inputs,
      },
      "switchyard",
      "production",
      false,
    );
    const frontend = new Frontend("frontend", {
      settings: {
        siteId: site.id,
        revision: "web-v3.8.0",
        apiUrlVariable: "VITE_API_URL",
        env: { VITE_SITE_NAME: "Shop" },
        clearCache: false,
        deadlineSeconds: 900,
        pollIntervalSeconds: 5,
      },
      token: pulumi.secret(token),
      apiUrl: "https://api.shop.example.com",
      backendVersion: "2.15.0",
      stack: "production",
      after: [],
    });
    await new Promise((resolve) => frontend.deployId.apply(resolve));
    const deploy = registered.find((r) => r.type === "pulumi-nodejs:dynamic/switchyard:NetlifyDeploy");
    assert.ok(deploy, "a NetlifyDeploy is registered");
    const inputs = deploy.inputs as Record<string, unknown>;
    assert.ok(isSecretValue(inputs.token));
    assert.deepEqual(inputs.env, { VITE_SITE_NAME: "Shop", VITE_API_URL: "https://api.shop.example.com" });
    assert.equal(inputs.title, "switchyard production: backend 2.15.0, frontend web-v3.8.0");
    assert.equal(inputs.deadlineMs, 900_000);
    assert.equal(inputs.pollIntervalMs, 5_000);
    assert.deepEqual(inputs.api, netlifyApiEndpoint);
    assert.ok(!JSON.stringify({ ...inputs, token: undefined }).includes(token));
  });
});
