"use strict";

const net = require("node:net");
const { describeError } = require("./errors");

/** Encodes a command as a RESP array of bulk strings, the form every Redis version accepts. */
function encodeCommand(args) {
  let out = `*${args.length}\r\n`;
  for (const arg of args) out += `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`;
  return out;
}

/** Parses `redis://[user][:password]@host[:port][/db]` into what the ping needs. */
function parseRedisUrl(redisUrl) {
  const url = new URL(redisUrl);
  if (url.protocol !== "redis:") throw new Error("unsupported scheme");
  return {
    host: url.hostname.replace(/^\[|\]$/g, "") || "127.0.0.1",
    port: url.port ? Number(url.port) : 6379,
    username: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
  };
}

/** Maps a RESP error line to a fixed phrase; server messages are not echoed. */
function describeReplyError(line) {
  if (/^-(WRONGPASS|ERR invalid password)/.test(line)) return "authentication failed";
  if (/^-NOAUTH/.test(line)) return "authentication required";
  return "unexpected reply";
}

/**
 * Connects, authenticates if the URL carries a password, and sends PING.
 * Resolves (never rejects) to `{ ok, detail }`, giving up after `timeoutMs`.
 */
function pingRedis(redisUrl, timeoutMs) {
  let target;
  try {
    target = parseRedisUrl(redisUrl);
  } catch {
    return Promise.resolve({ ok: false, detail: "invalid REDIS_URL" });
  }
  const commands = [];
  if (target.password) {
    commands.push(target.username ? ["AUTH", target.username, target.password] : ["AUTH", target.password]);
  }
  commands.push(["PING"]);

  return new Promise((resolve) => {
    const socket = net.connect({ host: target.host, port: target.port });
    let buffered = "";
    let settled = false;
    const finish = (result) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => finish({ ok: false, detail: "timeout" }), timeoutMs);

    socket.setEncoding("utf8");
    socket.on("connect", () => socket.write(commands.map(encodeCommand).join("")));
    socket.on("data", (chunk) => {
      buffered += chunk;
      const lines = buffered.split("\r\n");
      // Every reply we ask for is a single line; the last element is an incomplete remainder.
      const replies = lines.slice(0, -1);
      const failed = replies.find((line) => line.startsWith("-"));
      if (failed) return finish({ ok: false, detail: describeReplyError(failed) });
      if (replies.length < commands.length) return;
      const pong = replies[commands.length - 1];
      finish(pong === "+PONG" ? { ok: true, detail: "ok" } : { ok: false, detail: "unexpected reply" });
    });
    socket.on("error", (err) => finish({ ok: false, detail: describeError(err) }));
    socket.on("close", () => finish({ ok: false, detail: "connection closed" }));
  });
}

module.exports = { pingRedis };
