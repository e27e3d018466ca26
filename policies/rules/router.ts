/** The public edge: TLS in production, and the headers every response carries. */
import type { ResourceValidationArgs, ResourceValidationPolicy } from "@pulumi/policy";
import { routerFiles, routerSiteFacts, routerUpstreamTypes } from "../resources";
import { stagingAcmeDirectories } from "../../infra/stackKeys";
import { isProduction, type StackFacts } from "../stack";

const certificateBlock = "-----BEGIN CERTIFICATE-----";
const privateKeyBlock = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;

const tlsRemedy =
  "Set switchyard:router.tls.acme (certificates from Let's Encrypt), or switchyard:tlsCertificate and switchyard:tlsKey with `pulumi config set --secret`.";

/**
 * What the router's site lacks for TLS: a listener, and either an ACME client on a CA browsers
 * trust or a certificate chain with its key sent as a secret.
 */
function siteTlsProblems(args: ResourceValidationArgs): string[] {
  const problems: string[] = [];
  if (!routerSiteFacts(args).tls) problems.push("the site has no TLS listener");
  const acme = args.props.acme as { directory?: unknown } | undefined;
  if (acme !== undefined) {
    if ((stagingAcmeDirectories as readonly unknown[]).includes(acme.directory))
      problems.push(
        `its certificates come from a staging ACME CA (${String(acme.directory)}), which browsers do not trust`,
      );
    return problems;
  }
  const files = routerFiles(args.props, "files");
  const secretFiles = routerFiles(args.props, "secretFiles");
  if (![...Object.values(files), ...Object.values(secretFiles)].some((c) => c.includes(certificateBlock)))
    problems.push("there is no certificate chain");
  const plainKey = Object.keys(files).find((name) => privateKeyBlock.test(files[name]));
  if (plainKey) problems.push(`the private key travels as the plain file ${plainKey}, not as a secret file`);
  else if (!Object.values(secretFiles).some((c) => privateKeyBlock.test(c)))
    problems.push("there is no private key");
  return problems;
}

export function routerTlsInProduction(facts: StackFacts): ResourceValidationPolicy {
  return {
    name: "router-tls-in-production",
    description:
      "In production the router terminates TLS with a certificate browsers trust: from an ACME CA's production directory, or pasted with the private key sent as a secret.",
    validateResource: (args, reportViolation) => {
      if (!routerUpstreamTypes.includes(args.type)) return;
      if (!isProduction(facts)) args.notApplicable("plain HTTP is allowed outside production");
      const problems = siteTlsProblems(args);
      if (problems.length > 0)
        reportViolation(`the production router lacks trusted TLS: ${problems.join("; ")}. ${tlsRemedy}`);
    },
  };
}

const requiredHeaders = ["X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy"];

export const routerSecurityHeaders: ResourceValidationPolicy = {
  name: "router-security-headers",
  description:
    "Every router response carries nosniff, frame and referrer headers, and HSTS when served over TLS.",
  validateResource: (args, reportViolation) => {
    if (!routerUpstreamTypes.includes(args.type)) return;
    const site = routerSiteFacts(args);
    const headers = site.headers.map((header) => header.toLowerCase());
    const missing = requiredHeaders.filter((header) => !headers.includes(header.toLowerCase()));
    if (site.tls && !headers.includes("strict-transport-security")) missing.push("Strict-Transport-Security");
    if (missing.length > 0) {
      reportViolation(
        `the router's site does not set ${missing.join(", ")}, leaving browsers to sniff types, frame the app or downgrade to HTTP. ` +
          "Render the site with renderRouterSite (nginxConfig.ts) or renderCaddySite (caddyConfig.ts), which add them to every response.",
      );
    }
  },
};
