/**
 * A native slot on its host, as files and commands: where its releases live, its unit, its
 * environment file, and the argv that put them in place. Pure, and free of Pulumi: the
 * SystemdService provider is serialized with it.
 */

/** What one native slot runs, and how. */
export interface NativeService {
  /** The unit's name without `.service` (`<deployment>-<colour>`). */
  unit: string;
  /** The dedicated system user it runs as. */
  user: string;
  /** Holds `<unit>/releases/<version>-<sha256 prefix>/`. */
  directory: string;
  version: string;
  /** sha256 of the binary, hex. */
  sha256: string;
  resources: { memoryMb: number; cpus: number };
  /** Docker's restart policy names, as `app.restartPolicy` takes them. */
  restartPolicy: string;
}

/** Where a native slot's files are on its host. */
export function servicePaths(service: Pick<NativeService, "unit" | "directory" | "version" | "sha256">) {
  const slotDirectory = `${service.directory}/${service.unit}`;
  const release = `${slotDirectory}/releases/${service.version}-${service.sha256.slice(0, 12)}`;
  return {
    slotDirectory,
    releases: `${slotDirectory}/releases`,
    release,
    binary: `${release}/app`,
    unitFile: `/etc/systemd/system/${service.unit}.service`,
    /** Read by systemd itself (as root) before it drops to the user: the user cannot read it. */
    environmentFile: `/etc/switchyard/${service.unit}.env`,
  };
}

/** systemd's `Restart=` for Docker's policy names: systemd has no "unless stopped", a stop it is told is final anyway. */
const restartSettings: Record<string, string> = {
  always: "always",
  "unless-stopped": "always",
  "on-failure": "on-failure",
};

export function unitFile(service: NativeService): string {
  const paths = servicePaths(service);
  return [
    "[Unit]",
    `Description=switchyard slot ${service.unit}, version ${service.version}`,
    "After=network-online.target",
    "Wants=network-online.target",
    "",
    "[Service]",
    // `exec`: `systemctl restart` returns only once the binary really started.
    "Type=exec",
    `User=${service.user}`,
    `Group=${service.user}`,
    `ExecStart=${paths.binary}`,
    `WorkingDirectory=${paths.release}`,
    `EnvironmentFile=${paths.environmentFile}`,
    `Restart=${restartSettings[service.restartPolicy] ?? "always"}`,
    "RestartSec=1",
    // As long as a container slot gets for its in-flight requests after SIGTERM.
    "TimeoutStopSec=30",
    `MemoryMax=${service.resources.memoryMb}M`,
    `CPUQuota=${Math.round(service.resources.cpus * 100)}%`,
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    "ProtectHome=yes",
    "PrivateTmp=yes",
    "PrivateDevices=yes",
    "ProtectKernelTunables=yes",
    "ProtectControlGroups=yes",
    "RestrictSUIDSGID=yes",
    "LockPersonality=yes",
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}

/**
 * An `EnvironmentFile`: every value double-quoted, where systemd takes `\\`, `"`, `` ` `` and `$`
 * escaped and anything else (newlines too) as written.
 */
export function environmentFile(env: Record<string, string>): string {
  return Object.entries(env)
    .map(([name, value]) => `${name}="${value.replace(/[\\"`$]/g, (special) => `\\${special}`)}"\n`)
    .join("");
}

/** Runs `argv` as root: directly when the SSH user is root, else through `sudo -n` (never a password prompt). */
export function asRoot(argv: readonly string[]): string[] {
  return ["sh", "-c", 'if [ "$(id -u)" -eq 0 ]; then exec "$@"; else exec sudo -n "$@"; fi', "sh", ...argv];
}

/** Reads a script from its arguments: `$1`... are the words after `sh`. */
function script(lines: readonly string[], args: readonly string[]): string[] {
  return asRoot(["sh", "-c", ["set -eu", ...lines].join("\n"), "sh", ...args]);
}

/**
 * Stores the binary on standard input as the release's, once its sha256 is the one wanted, and
 * creates the user. A partial upload never takes the binary's name.
 */
export function installBinaryArgv(service: NativeService): string[] {
  const paths = servicePaths(service);
  return script(
    [
      // Both slots are released at once on a first deploy: the other may create the user first.
      'id -u "$1" >/dev/null 2>&1 || useradd --system --no-create-home --user-group --shell /usr/sbin/nologin "$1" || id -u "$1" >/dev/null',
      'install -d -m 0755 "$2"',
      'upload=$(mktemp "$2/.upload.XXXXXX")',
      'cat > "$upload"',
      'if ! printf "%s  %s\\n" "$3" "$upload" | sha256sum --check --status; then',
      '  rm -f "$upload"',
      '  echo "the binary arrived with another sha256 than the one sent: upload again" >&2',
      "  exit 1",
      "fi",
      'chmod 0755 "$upload"',
      'mv -f "$upload" "$2/app"',
    ],
    [service.user, paths.release, service.sha256],
  );
}

/** Writes standard input to `file` with `mode`, root's, in one rename. */
export function writeFileArgv(file: string, mode: string): string[] {
  return script(
    [
      'install -d -m 0755 "$(dirname "$1")"',
      'next=$(mktemp "$1.XXXXXX")',
      'cat > "$next"',
      'chmod "$2" "$next"',
      'mv -f "$next" "$1"',
    ],
    [file, mode],
  );
}

/** Loads the unit as written and (re)starts it; of the slot's releases, only those in `keep` stay. */
export function startArgv(service: NativeService, keep: readonly string[]): string[] {
  return script(
    [
      "unit=$1 releases=$2",
      "shift 2",
      "systemctl daemon-reload",
      'systemctl enable --quiet "$unit.service"',
      'systemctl restart "$unit.service"',
      'for release in "$releases"/*; do',
      "  keep=no",
      '  for kept in "$@"; do if [ "$release" = "$kept" ]; then keep=yes; fi; done',
      '  if [ "$keep" = no ]; then rm -rf "$release"; fi',
      "done",
    ],
    [service.unit, servicePaths(service).releases, ...keep],
  );
}

/** Stops the unit for good and removes everything of the slot: unit, environment, releases. */
export function removeArgv(
  service: Pick<NativeService, "unit" | "directory" | "version" | "sha256">,
): string[] {
  const paths = servicePaths(service);
  return script(
    [
      'systemctl disable --now --quiet "$1.service" 2>/dev/null || true',
      'rm -f "$2" "$3"',
      "systemctl daemon-reload",
      'rm -rf "$4"',
    ],
    [service.unit, paths.unitFile, paths.environmentFile, paths.slotDirectory],
  );
}

/** The unit's state, as `systemctl show` prints it (`Key=value` lines). */
export function showArgv(unit: string): string[] {
  return ["systemctl", "show", `${unit}.service`, "--property=LoadState,ActiveState,InvocationID"];
}

export function parseShow(output: string): Record<string, string> {
  return Object.fromEntries(
    output
      .split("\n")
      .filter((line) => line.includes("="))
      .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
  );
}
