"use strict";

// Driver and server messages can carry the user name, host or database name
// (e.g. `password authentication failed for user "app"`), so callers only ever
// expose these fixed phrases.
const DESCRIPTIONS = {
  "28P01": "authentication failed",
  28000: "authorization failed",
  "3D000": "database does not exist",
  53300: "too many connections",
  "57P01": "server shutting down",
  "57P02": "server shutting down",
  "57P03": "server not accepting connections",
  57014: "timeout",
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  EPIPE: "connection reset",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host not found",
  ETIMEDOUT: "timeout",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "host unreachable",
};

const SQLSTATE = /^[0-9A-Z]{5}$/;

/** A short, secret-free description of a connection or query failure. */
function describeError(err) {
  const code = err && typeof err === "object" ? err.code : undefined;
  if (typeof code === "string" && Object.hasOwn(DESCRIPTIONS, code)) return DESCRIPTIONS[code];
  const message = err instanceof Error ? err.message : "";
  // pg reports its own client-side timeouts and dropped sockets without a code.
  if (/timeout/i.test(message)) return "timeout";
  if (/terminated|closed/i.test(message)) return "connection terminated";
  if (typeof code === "string" && SQLSTATE.test(code)) return `database error (SQLSTATE ${code})`;
  return "unexpected error";
}

/** Replaces every occurrence of the given secrets; a last line of defence for messages we do print. */
function redact(text, secrets) {
  let result = text;
  for (const secret of secrets) {
    if (secret) result = result.split(secret).join("***");
  }
  return result;
}

/** Rejects with a `timeout` error if `promise` has not settled after `ms`. */
function withTimeout(promise, ms) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error("timeout"), { code: "ETIMEDOUT" })), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

module.exports = { describeError, redact, withTimeout };
