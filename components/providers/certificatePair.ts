/**
 * What is wrong with a certificate chain and its key. nginx reads them per handshake (see
 * nginxConfig.ts), so `nginx -t` never sees them: a key that does not match its chain would
 * otherwise surface as failed handshakes after the certificate went live. No message quotes
 * either file.
 */
import { createPrivateKey, X509Certificate } from "node:crypto";

const pemCertificate = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;

export function certificatePairProblems(chain: string, key: string, now = new Date()): string[] {
  const [first] = chain.match(pemCertificate) ?? [];
  if (first === undefined) return ["the certificate chain holds no PEM certificate"];
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(first);
  } catch {
    return ["the chain's first certificate does not parse"];
  }
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    return ["the key is not an unencrypted PEM private key"];
  }
  const problems: string[] = [];
  if (!leaf.checkPrivateKey(privateKey))
    problems.push("the key does not belong to the chain's first certificate");
  // Valid through its notAfter time, that second included (RFC 5280, 4.1.2.5).
  if (new Date(leaf.validTo) < now) problems.push(`the certificate expired (${leaf.validTo})`);
  return problems;
}

/** When the chain's first certificate expires, ISO 8601; undefined when the chain holds none that parses. */
export function certificateExpiry(chain: string): string | undefined {
  const [first] = chain.match(pemCertificate) ?? [];
  try {
    return first === undefined ? undefined : new Date(new X509Certificate(first).validTo).toISOString();
  } catch {
    return undefined;
  }
}
