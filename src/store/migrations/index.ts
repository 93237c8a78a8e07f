import type { Migration } from "kysely/migration";
import type { StoreDialect } from "../database.ts";
import { identityMigration } from "./0001_identity.ts";
import { meteringAuditMigration } from "./0002_metering_audit.ts";
import { webappMigration } from "./0003_webapp.ts";
import { documentsMigration } from "./0004_documents.ts";
import { identityVersionMigration } from "./0005_identity_version.ts";
import { budgetHoldsMigration } from "./0006_budget_holds.ts";
import { documentsVersionMigration } from "./0007_documents_version.ts";
import { identityVersionRandomMigration } from "./0008_identity_version_random.ts";
import { writerJournalMigration } from "./0009_writer_journal.ts";

/**
 * Every migration, by name. Names sort in the order they apply (`NNNN_module_what`) and never
 * change once released; a module adds its migration file and one line here.
 */
export function migrations(_dialect: StoreDialect): Record<string, Migration> {
  return {
    "0001_identity": identityMigration,
    "0002_metering_audit": meteringAuditMigration,
    "0003_webapp": webappMigration,
    "0004_documents": documentsMigration(_dialect),
    "0005_identity_version": identityVersionMigration(_dialect),
    "0006_budget_holds": budgetHoldsMigration,
    "0007_documents_version": documentsVersionMigration(_dialect),
    "0008_identity_version_random": identityVersionRandomMigration(_dialect),
    "0009_writer_journal": writerJournalMigration(_dialect),
  };
}
