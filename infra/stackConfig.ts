import * as pulumi from "@pulumi/pulumi";
import {
  ConfigError,
  decodeRawConfig,
  type ParsedStackConfig,
  parseStackConfig,
  type SecretKey,
} from "./config";

/**
 * Pulumi's public API cannot say whether a key was set with --secret; the runtime's own check
 * (the one `Config.getSecret` relies on) is the source of truth.
 */
const { isConfigSecret } = require("@pulumi/pulumi/runtime/config") as {
  isConfigSecret(key: string): boolean;
};

/** The validated config, with every secret held as a secret Output so it cannot be logged by accident. */
export interface StackConfig extends Omit<ParsedStackConfig, SecretKey> {
  stack: string;
  secrets: {
    sshPrivateKey?: pulumi.Output<string>;
    tls?: { certificate: pulumi.Output<string>; key: pulumi.Output<string> };
    appEnv: pulumi.Output<Record<string, string>>;
    /** Each accessory's secret environment, by accessory name. */
    accessoryEnv: Record<string, pulumi.Output<Record<string, string>>>;
    githubToken?: pulumi.Output<string>;
    netlifyToken?: pulumi.Output<string>;
    pulumiAccessToken?: pulumi.Output<string>;
    pulumiConfigPassphrase?: pulumi.Output<string>;
  };
}

/** Reads and validates the stack's config; throws a RunError naming every bad key, before any resource exists. */
export function loadStackConfig(): StackConfig {
  let parsed: ParsedStackConfig;
  try {
    parsed = parseStackConfig(decodeRawConfig(pulumi.runtime.allConfig(), isConfigSecret));
  } catch (error) {
    // RunError: Pulumi prints the message alone, without a stack trace.
    if (error instanceof ConfigError) throw new pulumi.RunError(error.message);
    throw error;
  }
  const {
    sshPrivateKey,
    tlsCertificate,
    tlsKey,
    appSecrets,
    accessorySecrets,
    githubToken,
    netlifyToken,
    pulumiAccessToken,
    pulumiConfigPassphrase,
    ...plain
  } = parsed;
  const secretOf = (value: string | undefined) => (value === undefined ? undefined : pulumi.secret(value));
  return {
    ...plain,
    stack: pulumi.getStack(),
    secrets: {
      sshPrivateKey: secretOf(sshPrivateKey),
      tls:
        tlsCertificate === undefined || tlsKey === undefined
          ? undefined
          : { certificate: pulumi.secret(tlsCertificate), key: pulumi.secret(tlsKey) },
      appEnv: pulumi.secret(appSecrets),
      // By accessory: which accessories have secrets is no secret, and the others' env stays readable.
      accessoryEnv: Object.fromEntries(
        Object.entries(accessorySecrets).map(([accessory, env]) => [accessory, pulumi.secret(env)]),
      ),
      githubToken: secretOf(githubToken),
      netlifyToken: secretOf(netlifyToken),
      pulumiAccessToken: secretOf(pulumiAccessToken),
      pulumiConfigPassphrase: secretOf(pulumiConfigPassphrase),
    },
  };
}
