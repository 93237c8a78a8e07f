import { createPublicKey } from "node:crypto";
import { once } from "node:events";
import { createWriteStream, existsSync, readFileSync } from "node:fs";
import type { Command } from "commander";
import { auditKeyPath, trustedVerifiers, type VerifyResult, verifyAudit } from "../audit/index.ts";
import { loadConfig } from "../config/config.ts";
import { dataDir } from "../config/paths.ts";
import { BastionError } from "../core/errors.ts";
import { auditExportLines } from "../server/admin/audit-export.ts";
import { checkAgainstWitness, readWitnessFile } from "./audit-witness.ts";
import { adminRequest, openConfiguredStore } from "./usage.ts";

interface CommonOptions {
  config?: string;
  url?: string;
  apiKey?: string;
}

const apiKeyHelp = "admin or auditor key for --url (default: BASTION_API_KEY, else <data dir>/admin-key)";

/**
 * What to do about a checkpoint no trusted key signed. The usual cause is not tampering but
 * several instances on one database, each signing with the key its own data directory made.
 */
export function untrustedSignerHint(reason: string | undefined): string {
  if (reason === undefined || !reason.includes("no signature by a trusted key")) return "";
  return (
    "\n  If several instances share this database, each signs checkpoints with its own key unless they share one:" +
    " give them the same audit.keyFile, or list every instance's public key (`bastion audit public-key`)" +
    " in audit.trustedPublicKeys, or pass them here with --public-key <pem>."
  );
}

/**
 * How far verification got. Checkpoint signatures are checked before any record, so a bad one
 * reads "0 records verified", which said nothing about the records: leave it out there.
 */
function verifiedBefore(result: VerifyResult): string {
  if (result.first_bad?.reason.startsWith("checkpoint at size") === true && result.records === 0) return "";
  return ` (${result.records} records verified before it)`;
}

/** Prints a verification result; a failure exits 1 naming the first bad record. */
function report(result: VerifyResult): void {
  if (result.ok) {
    process.stdout.write(
      `audit log OK: ${result.records} records, ${result.checkpoints} signed checkpoints${result.head === undefined ? "" : `, head ${result.head.seq} ${result.head.hash}`}\n`,
    );
    return;
  }
  process.stderr.write(
    `audit log FAILED at record ${result.first_bad?.seq}: ${result.first_bad?.reason}${verifiedBefore(result)}${untrustedSignerHint(result.first_bad?.reason)}\n`,
  );
  process.exitCode = 1;
}

/** `bastion audit verify|export|public-key`: the tamper-evident log, for auditors. */
export function registerAuditCommand(program: Command): void {
  const audit = program.command("audit").description("Verify and export the tamper-evident audit log.");
  audit
    .command("verify")
    .description(
      "Check every record's hash and link and every checkpoint's signature; exit 1 naming the first bad record.",
    )
    .option("--public-key <pem...>", "also trust checkpoints signed by these public keys (PEM files)")
    .option(
      "--witness <file>",
      "also check the log against the signed checkpoints of an earlier export kept elsewhere (detects a truncation that took its checkpoints with it)",
    )
    .option("-u, --url <url>", "ask a running server (with BASTION_API_KEY) to verify its log")
    .option("--api-key <key>", apiKeyHelp)
    .option("-c, --config <file>", "JSON config file (or BASTION_CONFIG)")
    .action(async (options: CommonOptions & { publicKey?: string[]; witness?: string }) => {
      if (options.url !== undefined) {
        if (options.witness !== undefined)
          throw new BastionError(
            "invalid_request",
            "--witness reads the database itself: run it where the data directory (or DATABASE_URL) is, without --url.",
          );
        const response = await adminRequest(options.url, "/admin/v1/audit/verify", "POST", options.apiKey);
        report((await response.json()) as VerifyResult);
        return;
      }
      const config = loadConfig(options.config === undefined ? {} : { file: options.config });
      // Read before opening the store, so that a wrong path fails without touching the database.
      const witness = options.witness === undefined ? undefined : await readWitnessFile(options.witness);
      const store = await openConfiguredStore(config);
      try {
        const result = await verifyAudit({
          config: config.audit,
          store,
          dataDir: dataDir(),
          ...(options.publicKey === undefined ? {} : { publicKeyFiles: options.publicKey }),
        });
        if (!result.ok || witness === undefined) {
          report(result);
          return;
        }
        const checked = await checkAgainstWitness({
          store,
          witness,
          verifiers: trustedVerifiers(config.audit, dataDir(), options.publicKey),
          origin: config.audit.origin,
        });
        if (!checked.ok) {
          report({
            ok: false,
            records: Math.max(0, checked.seq - 1),
            checkpoints: result.checkpoints,
            first_bad: { seq: checked.seq, reason: checked.reason },
          });
          return;
        }
        report(result);
        process.stdout.write(
          `witness OK: the log matches the ${checked.checkpoints} signed checkpoints of ${options.witness}${checked.pruned === 0 ? "" : ` (${checked.pruned} older ones fall before the oldest kept record: pruned by retention)`}\n`,
        );
      } finally {
        await store.destroy();
      }
    });
  audit
    .command("export")
    .description(
      "Write the log as JSON lines: every record (with its hash and the exact hashed body) and checkpoint.",
    )
    .option("-o, --output <file>", "write here instead of stdout")
    .option("-u, --url <url>", "export a running server's log (with BASTION_API_KEY, admin or auditor)")
    .option("--api-key <key>", apiKeyHelp)
    .option("-c, --config <file>", "JSON config file (or BASTION_CONFIG)")
    .action(async (options: CommonOptions & { output?: string }) => {
      const out =
        options.output === undefined ? process.stdout : createWriteStream(options.output, { mode: 0o600 });
      const write = async (text: string) => {
        if (!out.write(text)) await once(out, "drain");
      };
      try {
        if (options.url !== undefined) {
          // Streamed through as it arrives: a long log is never held in memory.
          const response = await adminRequest(options.url, "/admin/v1/audit/export", "GET", options.apiKey);
          if (response.body === null) throw new BastionError("upstream_error", "The server sent no export.");
          const decoder = new TextDecoder();
          for await (const chunk of response.body) await write(decoder.decode(chunk, { stream: true }));
          const rest = decoder.decode();
          if (rest !== "") await write(rest);
          return;
        }
        const config = loadConfig(options.config === undefined ? {} : { file: options.config });
        const store = await openConfiguredStore(config);
        try {
          for await (const line of auditExportLines(store.db)) await write(`${line}\n`);
        } finally {
          await store.destroy();
        }
      } finally {
        if (out !== process.stdout) {
          out.end();
          await once(out, "finish");
        }
      }
    });
  audit
    .command("public-key")
    .description("Print the public key (PEM) that verifies this installation's checkpoints.")
    .option("-u, --url <url>", "ask a running server for the key it signs with")
    .option("--api-key <key>", apiKeyHelp)
    .option("-c, --config <file>", "JSON config file (or BASTION_CONFIG)")
    .action(async (options: CommonOptions) => {
      if (options.url !== undefined) {
        const response = await adminRequest(options.url, "/admin/v1/audit/public-key", "GET", options.apiKey);
        process.stdout.write(await response.text());
        return;
      }
      const config = loadConfig(options.config === undefined ? {} : { file: options.config });
      const path = auditKeyPath(config.audit, dataDir());
      if (!existsSync(path))
        throw new BastionError(
          "not_found",
          `No audit key at ${path} yet: it is created when the server first starts.`,
        );
      process.stdout.write(
        createPublicKey(readFileSync(path)).export({ format: "pem", type: "spki" }).toString(),
      );
    });
}
