/** Debian packages the engine needs on the machine it runs on (docker.io, docker-registry, debootstrap). */
import * as fs from "node:fs";
import { runLogged } from "./shell";

/** Installs `packages` with apt-get (through sudo unless root); for a machine that lacks a program the engine runs. */
export async function aptInstall(packages: readonly string[], log: string): Promise<void> {
  if (!fs.existsSync("/usr/bin/apt-get")) {
    throw new Error(
      `${packages.join(", ")} missing, and this is not a Debian machine: install them yourself`,
    );
  }
  const sudo = process.getuid?.() === 0 ? [] : ["sudo"];
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  await runLogged([...sudo, "apt-get", "update", "-qq"], { env, log });
  await runLogged([...sudo, "apt-get", "install", "-y", "-qq", "--no-install-recommends", ...packages], {
    env,
    log,
  });
}
