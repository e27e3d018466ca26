/**
 * What the NetlifyDeploy provider takes, and what is wrong with it: where Netlify's API answers,
 * the inputs (documented here; the resource's arguments are derived from them) and their checks.
 */
import type { InputProblem } from "./inputs";

/** Where Netlify's API answers; tests point it at a local server. */
export interface NetlifyEndpoint {
  scheme: "https" | "http";
  /** Host, with `:port` when not the scheme's default. */
  host: string;
  pathPrefix: string;
}

export const netlifyApiEndpoint: NetlifyEndpoint = {
  scheme: "https",
  host: "api.netlify.com",
  pathPrefix: "/api/v1",
};

/** Inputs as the provider receives them: every value resolved, the token in plain text. */
export interface NetlifyDeployInputs {
  /** The site's id (a UUID). */
  siteId: string;
  /** Netlify personal access token; stored as a secret, never in outputs, messages or progress. */
  token: string;
  /** Site variables for the production context, set before the build. */
  env: Record<string, string>;
  /** The frontend revision this deploy is for; "" when not pinned. */
  revision: string;
  /** The backend version serving traffic when the frontend goes out. */
  backendVersion: string;
  /** Shown on the deploy in Netlify's UI. */
  title: string;
  clearCache: boolean;
  deadlineMs: number;
  pollIntervalMs: number;
  api: NetlifyEndpoint;
}

/** The longest deadline and poll interval a deploy may be given. */
const limits = { deadlineMs: 2 * 3600 * 1000, pollIntervalMs: 60 * 1000 };

export function netlifyInputProblems(news: NetlifyDeployInputs): InputProblem[] {
  const problems: InputProblem[] = [];
  const bad = (property: string, reason: string) => problems.push({ property, reason });
  if (typeof news.siteId !== "string" || !/^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$/.test(news.siteId))
    bad("siteId", `expected a Netlify site id (a UUID), got ${JSON.stringify(news.siteId)}`);
  // Never quoted: it is a secret.
  if (typeof news.token !== "string" || !/^\S+$/.test(news.token))
    bad("token", "expected a Netlify access token (set netlifyToken with --secret)");
  const env = news.env;
  if (!env || typeof env !== "object" || Array.isArray(env)) bad("env", "expected a map of names to strings");
  else {
    for (const [name, value] of Object.entries(env)) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
        bad("env", `${JSON.stringify(name)} is not a variable name`);
      if (typeof value !== "string") bad("env", `${name} must be a string`);
    }
  }
  if (typeof news.revision !== "string") bad("revision", "expected a string (empty when not pinned)");
  if (typeof news.backendVersion !== "string" || news.backendVersion === "")
    bad("backendVersion", "expected the version of the backend serving traffic");
  if (typeof news.title !== "string" || news.title === "") bad("title", "expected a deploy title");
  if (typeof news.clearCache !== "boolean") bad("clearCache", "expected true or false");
  for (const key of ["deadlineMs", "pollIntervalMs"] as const) {
    const value = news[key];
    if (!Number.isInteger(value) || value <= 0 || value > limits[key])
      bad(key, `expected whole milliseconds between 1 and ${limits[key]}, got ${JSON.stringify(value)}`);
  }
  const api = news.api;
  if (
    !api ||
    (api.scheme !== "https" && api.scheme !== "http") ||
    typeof api.host !== "string" ||
    !/^[A-Za-z0-9.-]+(:\d{1,5})?$/.test(api.host) ||
    typeof api.pathPrefix !== "string" ||
    !/^(\/[^\s?#]*)?$/.test(api.pathPrefix)
  )
    bad("api", "expected { scheme: https|http, host: name[:port], pathPrefix: /path }");
  return problems;
}
