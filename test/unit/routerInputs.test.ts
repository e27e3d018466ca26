import assert from "node:assert/strict";
import { checked, unknownValue } from "../../components/providers/inputs";
import { siteFile, testMainFile } from "../../components/providers/nginxConfig";
import {
  type NginxUpstreamInputs,
  routerInputProblems,
  verificationSpec,
} from "../../components/providers/routerInputs";

const inputs: NginxUpstreamInputs = {
  executor: { kind: "local" },
  exec: ["docker", "exec", "-i", "router"],
  nginx: ["nginx"],
  mainConfig: "/etc/nginx/nginx.conf",
  stateDir: "/var/lib/switchyard/router",
  files: { [siteFile]: "server {}", [testMainFile]: "events {}", "conf.d/extra.conf": "" },
  secretFiles: {},
  activeSlot: "blue",
  canaryWeight: 0,
  checkHost: "127.0.0.1",
  checkPort: 8081,
  path: "/health",
  expectedVersion: "1.0.0",
  stableForMs: 30_000,
  intervalMs: 2000,
  timeoutMs: 5000,
  allowDegraded: false,
  smokeChecks: [{ path: "/", status: 200 }],
};

const properties = (news: NginxUpstreamInputs) => routerInputProblems(news).map((p) => p.property);

describe("router inputs", () => {
  it("finds nothing wrong with what the Router component passes", () => {
    assert.deepEqual(routerInputProblems(inputs), []);
  });

  it("names every input that is wrong, by the name a user set", () => {
    const bad = {
      ...inputs,
      executor: { kind: "telnet" },
      exec: "docker exec",
      nginx: [],
      mainConfig: "nginx.conf",
      stateDir: "/",
      activeSlot: "red",
      canaryWeight: 101,
      checkHost: "127.0.0.1; rm",
      checkPort: 0,
      path: "health",
      expectedVersion: "",
      stableForMs: -1,
      smokeChecks: [{ path: "/", status: 99 }],
    } as unknown as NginxUpstreamInputs;
    assert.deepEqual(properties(bad), [
      "executor",
      "exec",
      "nginx",
      "mainConfig",
      "stateDir",
      "activeSlot",
      "canaryWeight",
      "checkHost",
      "checkPort",
      "path",
      "expectedVersion",
      "stableForMs",
      "smokeChecks[0].status",
    ]);
  });

  it("keeps generation files inside the generation, as text, with the files nginx -t needs", () => {
    const files = { "../escape.conf": "", "a/./b.conf": "", "/abs.conf": "", "ok.conf": 7 };
    assert.deepEqual(routerInputProblems({ ...inputs, files } as unknown as NginxUpstreamInputs), [
      { property: "files.../escape.conf", reason: "expected a relative path inside the generation" },
      { property: "files.a/./b.conf", reason: "expected a relative path inside the generation" },
      { property: "files./abs.conf", reason: "expected a relative path inside the generation" },
      { property: "files.ok.conf", reason: "expected text" },
      { property: "files", reason: `must contain ${siteFile} (renderRouterFiles)` },
      { property: "files", reason: `must contain ${testMainFile} (renderRouterFiles)` },
    ]);
    assert.deepEqual(properties({ ...inputs, secretFiles: [] as unknown as Record<string, string> }), [
      "secretFiles",
    ]);
  });

  it("leaves what a preview does not know yet for the update, a file's content included", () => {
    const previewed = {
      ...inputs,
      executor: unknownValue,
      checkPort: unknownValue,
      path: unknownValue,
      stableForMs: unknownValue,
      files: { ...inputs.files, [siteFile]: unknownValue },
    } as unknown as NginxUpstreamInputs;
    assert.deepEqual(checked(previewed, routerInputProblems(previewed)).failures, []);
  });

  it("watches through the router as a gate that must pass once and hold for the window", () => {
    assert.deepEqual(verificationSpec(inputs, "http://127.0.0.1:9000/health"), {
      url: "http://127.0.0.1:9000/health",
      expectedVersion: "1.0.0",
      intervalMs: 2000,
      timeoutMs: 5000,
      deadlineMs: 35_000,
      successesNeeded: 1,
      stableForMs: 30_000,
      allowDegraded: false,
      smokeChecks: [{ path: "/", status: 200 }],
    });
  });
});
