"use strict";

/** One JSON object per line, so container log collectors can parse it. Never pass secrets in `fields`. */
function log(level, msg, fields = {}) {
  const line = JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields });
  if (level === "error" || level === "warn") process.stderr.write(`${line}\n`);
  else process.stdout.write(`${line}\n`);
}

module.exports = { log };
