import type { IdentityTables } from "../auth/tables.ts";
import type { DocumentsTables } from "../documents/tables.ts";
import type { MeteringTables } from "../metering/tables.ts";
import type { WebappTables } from "../webapp/tables.ts";

/**
 * The database's tables, as Kysely sees them. Each module declares its own table interfaces in
 * its own file and adds them here; its migration creates them.
 */
export interface Database extends IdentityTables, WebappTables, DocumentsTables, MeteringTables {}
