/*
 * Metering and audit tables (migration 0002_metering_audit). Timestamps are ISO-8601 text, as in
 * the identity tables, so that SQLite and PostgreSQL compare them alike; `seq` and `size` are
 * bigint, which pg returns as strings: read them through `Number()`.
 */

/** One row per request: who (ids, never names), what, where, how much. */
export interface UsageRecordsTable {
  id: string;
  created_at: string;
  /** UTC day `YYYY-MM-DD`, for grouping without dialect-specific date functions. */
  day: string;
  tenant_id: string | null;
  user_id: string | null;
  key_id: string | null;
  endpoint: string;
  requested_model: string;
  model: string;
  backend: string;
  backend_kind: string;
  country: string;
  zone: string;
  status: string;
  error_code: string | null;
  policy: string;
  data_class: string;
  policy_action: string;
  /** JSON `{type: count}`; counts only. */
  detections: string;
  input_tokens: number;
  output_tokens: number;
  reasoning_tokens: number;
  cached_tokens: number;
  queue_ms: number;
  ttft_ms: number;
  total_ms: number;
  busy_ms: number;
  concurrency: number;
  cost_eur: number;
  energy_wh: number;
  co2e_g: number;
  reference_cost_eur: number;
  saved_eur: number;
}

/** The hash chain: `hash = SHA-256(prev_hash, seq, created_at, kind, body)`. */
export interface AuditLogTable {
  seq: number | string;
  created_at: string;
  kind: string;
  tenant_id: string | null;
  /** Keyed pseudonym of the user (or key), never the raw id; copied from `body` for filtering. */
  actor: string | null;
  model: string | null;
  /** The record as JSON text, hashed exactly as stored. */
  body: string;
  prev_hash: string;
  hash: string;
}

/** Signed checkpoints: the chain's head at `size`, as a C2SP signed note. */
export interface AuditCheckpointsTable {
  size: number | string;
  created_at: string;
  root_hash: string;
  note: string;
}

/** Per-user pseudonym secrets, kept apart from the chain; deleting one erases the link (GDPR Art. 17). */
export interface AuditSubjectsTable {
  user_id: string;
  secret: string;
  created_at: string;
}

export interface MeteringTables {
  usage_records: UsageRecordsTable;
  audit_log: AuditLogTable;
  audit_checkpoints: AuditCheckpointsTable;
  audit_subjects: AuditSubjectsTable;
}
