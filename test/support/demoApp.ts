import * as path from "node:path";
import { Background } from "./process";

export const demoAppDir = path.resolve(__dirname, "../../examples/demo-app");

/**
 * The demo app on 127.0.0.1:`port` with only the environment it needs (the runner's own PGHOST,
 * DATABASE_URL etc. cannot leak in) and `env`; resolves once it listens.
 */
export async function startDemoApp(port: number, env: Record<string, string>): Promise<Background> {
  const app = new Background(process.execPath, ["server.js"], {
    cwd: demoAppDir,
    env: { PATH: process.env.PATH, PORT: String(port), HOST: "127.0.0.1", ...env },
  });
  try {
    await app.waitForOutput(/"msg":"listening"/);
  } catch (error) {
    await app.stop("SIGKILL");
    throw error;
  }
  return app;
}
