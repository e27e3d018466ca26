/** What the commands outside `pulumi up` share about the pulumi CLI: stack names and running it. */
import { execFile } from "node:child_process";

/**
 * Whether `name` is a stack name pulumi takes: `production`, or, where `qualified`,
 * `org/project/production` too. A part of dots only would walk out of a directory.
 */
export function isStackName(name: string, { qualified }: { qualified: boolean }): boolean {
  const parts = name.split("/");
  return (
    parts.length <= (qualified ? 3 : 1) &&
    parts.every((part) => /^[A-Za-z0-9_.-]+$/.test(part) && !/^\.+$/.test(part))
  );
}

/**
 * Runs `pulumi <args>` in `cwd` and resolves with its stdout. A failure names the command and
 * gives pulumi's stderr, never its stdout, which may hold decrypted secrets.
 */
export function capturePulumi(args: readonly string[], cwd: string, pulumi = "pulumi"): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(pulumi, [...args], { cwd, maxBuffer: 16 * 1024 * 1024 }, (error, out, err) => {
      if (error) reject(new Error(`pulumi ${args.join(" ")} failed: ${String(err).trim() || error.message}`));
      else resolve(out);
    });
  });
}
