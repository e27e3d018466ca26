/**
 * Netlify's API as this provider calls it: the client's methods it uses, and its failures in
 * words that name the operation and never quote the token.
 */
import type { NetlifyAPI } from "@netlify/api";
import { redact } from "./inputs";

/** The calls of @netlify/api's client this provider makes. */
export type NetlifyClient = Pick<
  NetlifyAPI,
  | "getSite"
  | "getEnvVars"
  | "createEnvVars"
  | "setEnvVarValue"
  | "deleteEnvVar"
  | "deleteEnvVarValue"
  | "createSiteBuild"
  | "getDeploy"
  | "cancelSiteDeploy"
>;

/** Netlify's error, in words: the operation, the status and Netlify's message; the token scrubbed. */
export function netlifyError(operation: string, error: unknown, token: string): Error {
  const { status, json, data, code, message } = (error ?? {}) as {
    status?: number;
    json?: { message?: unknown };
    data?: unknown;
    code?: string;
    message?: string;
  };
  let text: string;
  if (status === undefined) {
    text = code ? `cannot reach Netlify's API: ${code}` : (message ?? String(error));
  } else {
    const said = typeof json?.message === "string" ? json.message : typeof data === "string" ? data : "";
    text = `${status} ${said || message || ""}`.trim();
    if (status === 401) text += ": Netlify refused the token; check netlifyToken";
  }
  // Only our words and Netlify's go out; never the client's error object, which carries the request.
  return new Error(`Netlify ${operation} failed: ${redact(text, token, "[token]")}`);
}

/** Calls one client method, turning its failure into a message that names the operation. */
export async function call<T>(operation: string, token: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw netlifyError(operation, error, token);
  }
}
