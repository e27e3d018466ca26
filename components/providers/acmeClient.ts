/**
 * The ACME client beside the router: lego (the `goacme/lego` image) in a small container that
 * shares the router's state volume. It answers HTTP-01 challenges by writing their tokens under
 * `acmeWebroot`, which the site serves on the HTTP port, keeps its account and certificates in
 * `acme` (0700), and installs each certificate as the router's live one the way a pasted one is
 * installed: a new `certificates/<id>` directory (0600 files, owned by the server's worker) and
 * one rename of the `certificate` link, so new handshakes get it and nothing reloads.
 *
 * Why a sidecar: certificates expire whether or not anyone deploys, so renewal must run on the
 * target by itself; the router's image is the official nginx one, which has no ACME client, and a
 * timer on the host would not exist on a Docker-only target. The container's loop checks every
 * `checkIntervalSeconds` whether fewer than 30 days remain (lego's `renew --days`), retries a
 * failure after 1 minute, doubling up to the check interval, and says what it did in its log
 * (`docker logs <router>-acme`); the last failure is kept in `acme/last-error` for
 * `pulumi refresh`. The first certificate is obtained by `pulumi up` itself (`ensure`), so the
 * update waits for it, and fails with the CA's reason before traffic moves.
 */
import { routerLayout } from "./routerState";

/** An ACME account and the names its certificate covers. */
export interface AcmeSettings {
  /** Contact address the CA writes to about expiring certificates. */
  email: string;
  /** The CA's ACME directory URL. */
  directory: string;
  /** Host names the certificate covers; the first names its files. */
  names: string[];
  /** PEM of the CA certificate the directory's own HTTPS is verified with (a private CA); unset: the system's. */
  directoryCertificate?: string;
  /** How often the client checks whether the certificate is due for renewal. */
  checkIntervalSeconds: number;
}

/** What a router site needs to know of ACME: a client of its own (Caddy) asks the CA itself. */
export interface SiteAcme extends Pick<
  AcmeSettings,
  "email" | "directory" | "names" | "checkIntervalSeconds"
> {
  /** The directory's CA certificate (`directoryCertificate`) as a file in the router's container. */
  directoryCertificateFile?: string;
}

/** Where HTTP-01 asks for a token: under it, the site serves `acmeWebroot`'s files. */
export const acmeChallengePath = "/.well-known/acme-challenge/";

/** A certificate is renewed once fewer days than this remain. */
export const renewDaysBefore = 30;

/** Where the client's files are in its container. */
export const acmeClientFiles = {
  script: "/etc/switchyard-acme/acme.sh",
  directoryCertificate: "/etc/switchyard-acme/directory-ca.pem",
} as const;

/**
 * The client's script: `ensure <uid:gid>` obtains a certificate for the configured names unless
 * one is there, and installs it; `renew-loop` is the container's command. Every value comes from
 * the environment (`acmeClientEnvironment`); the names are host names (the config allows no
 * other), so they split into lego's flags without quoting.
 */
export const acmeClientScript = [
  "set -u",
  'state="$ACME_STATE_DIR"',
  'data="$state/acme"',
  'webroot="$state/acme-webroot"',
  'first="${ACME_NAMES%% *}"',
  'wanted="$ACME_DIRECTORY $ACME_EMAIL $ACME_NAMES"',
  'domain_flags=""',
  'for name in $ACME_NAMES; do domain_flags="$domain_flags --domains $name"; done',
  'say() { echo "switchyard-acme: $*" >&2; }',
  "# The official images put lego on PATH up to v4.10 and at /lego after.",
  'lego_binary="$(command -v lego || echo /lego)"',
  "",
  "lego_with() {",
  '  "$lego_binary" --accept-tos --email "$ACME_EMAIL" --server "$ACME_DIRECTORY" --path "$data" \\',
  '    --http --http.webroot "$webroot" $domain_flags "$@"',
  "}",
  "",
  "# Runs lego; its output goes to the log, and on failure its last lines to last-error.",
  "# lego leaves its account key 0644: nothing in the client's directory is for anyone else.",
  "attempt() {",
  '  lego_with "$@" > "$data/attempt.log" 2>&1',
  "  status=$?",
  '  chmod -R go= "$data"',
  '  if [ "$status" -eq 0 ]; then',
  '    cat "$data/attempt.log" >&2',
  '    rm -f "$data/last-error" "$data/last-error-for"',
  "    return 0",
  "  fi",
  '  cat "$data/attempt.log" >&2',
  '  { date -u +%Y-%m-%dT%H:%M:%SZ; grep -v "^$" "$data/attempt.log" | tail -n 4; } > "$data/last-error"',
  '  printf "%s\\n" "$wanted" > "$data/last-error-for"',
  "  return 1",
  "}",
  "",
  "# Copies lego's certificate into certificates/<id> and renames the certificate link to it.",
  "install_certificate() {",
  '  crt="$data/certificates/$first.crt"',
  '  key="$data/certificates/$first.key"',
  '  id="acme-$(cat "$crt" "$key" | sha256sum | cut -c1-16)"',
  '  dir="$state/certificates/$id"',
  '  if [ ! -d "$dir" ]; then',
  '    (umask 022 && mkdir -p "$state/certificates") || return 1',
  '    rm -rf "$dir.new"',
  '    (umask 077 && mkdir "$dir.new" && cp "$crt" "$dir.new/fullchain.pem" && cp "$key" "$dir.new/privkey.pem") || return 1',
  '    owner="$(cat "$data/owner")"',
  '    if [ -n "$owner" ]; then chown -R "$owner" "$dir.new" || return 1; fi',
  '    mv "$dir.new" "$dir" || return 1',
  "  fi",
  '  if [ "$(readlink "$state/certificate")" != "certificates/$id" ]; then',
  '    ln -sfn "certificates/$id" "$state/certificate.next" && mv -Tf "$state/certificate.next" "$state/certificate" || return 1',
  '    say "new handshakes get certificate $id"',
  "  fi",
  '  for old in "$state"/certificates/*; do [ "$old" = "$dir" ] || rm -rf "$old"; done',
  "}",
  "",
  'case "${1:-}" in',
  "  ensure)",
  '    (umask 077 && mkdir -p "$data") && (umask 022 && mkdir -p "$webroot") || exit 1',
  '    printf "%s\\n" "${2:-}" > "$data/owner"',
  '    if [ "$(cat "$data/wanted" 2>/dev/null)" = "$wanted" ] && [ -f "$data/certificates/$first.crt" ]; then',
  '      say "the certificate for $ACME_NAMES is here"',
  "      # A failure for other settings (an order the CA refused, since put back) is not this one's.",
  '      [ "$(cat "$data/last-error-for" 2>/dev/null)" = "$wanted" ] || rm -f "$data/last-error" "$data/last-error-for"',
  "    else",
  '      say "asking $ACME_DIRECTORY for a certificate for $ACME_NAMES"',
  "      attempt run || exit 1",
  '      printf "%s\\n" "$wanted" > "$data/wanted"',
  "    fi",
  "    install_certificate",
  "    ;;",
  "  renew-loop)",
  "    trap 'exit 0' TERM INT",
  "    retry=60",
  "    while :; do",
  '      pause="$ACME_CHECK_SECONDS"',
  '      if [ "$(cat "$data/wanted" 2>/dev/null)" != "$wanted" ]; then',
  '        say "waiting for pulumi up to obtain the first certificate for $ACME_NAMES"',
  // Without --no-random-sleep, lego first sleeps up to 8 minutes when its output is no terminal.
  '      elif attempt renew --days "$ACME_RENEW_DAYS" --no-random-sleep && install_certificate; then',
  "        retry=60",
  "      else",
  '        if [ "$retry" -lt "$pause" ]; then pause="$retry"; fi',
  '        say "renewal failed; the live certificate stays; next attempt in ${pause}s"',
  "        retry=$((retry * 2))",
  "      fi",
  '      sleep "$pause" &',
  "      wait $!",
  "    done",
  "    ;;",
  "  *)",
  '    say "usage: acme.sh ensure <uid:gid> | renew-loop"',
  "    exit 2",
  "    ;;",
  "esac",
  "",
].join("\n");

/** The client container's environment. */
export function acmeClientEnvironment(settings: AcmeSettings, stateDir: string): string[] {
  return [
    `ACME_STATE_DIR=${stateDir}`,
    `ACME_EMAIL=${settings.email}`,
    `ACME_DIRECTORY=${settings.directory}`,
    `ACME_NAMES=${settings.names.join(" ")}`,
    `ACME_CHECK_SECONDS=${settings.checkIntervalSeconds}`,
    `ACME_RENEW_DAYS=${renewDaysBefore}`,
    ...(settings.directoryCertificate === undefined
      ? []
      : [`LEGO_CA_CERTIFICATES=${acmeClientFiles.directoryCertificate}`]),
  ];
}

/** Commands run in the client's container (`ensure`) and in the router's (the rest). */
export const acmeCommands = {
  /** Obtains the certificate unless the client has it for these settings, and makes it live. */
  ensure(owner: string): string[] {
    return ["/bin/sh", acmeClientFiles.script, "ensure", owner];
  },

  /** Prints `uid:gid` of `user`, whom the certificate's files must belong to. */
  numericOwner(user: string): string[] {
    return ["sh", "-c", 'printf "%s:%s" "$(id -u "$1")" "$(id -g "$1")"', "sh", user];
  },

  /** Prints the client's last renewal failure (its time, then lego's last lines), or nothing. */
  lastError(stateDir: string): string[] {
    return ["sh", "-c", 'cat "$1/last-error" 2>/dev/null || true', "sh", routerLayout(stateDir).acme];
  },
};
