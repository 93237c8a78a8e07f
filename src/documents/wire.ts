import type { Attributes } from "./filters.ts";
import { parseJson } from "./ids.ts";
import type {
  DocumentFileTable,
  VectorStoreFileBatchTable,
  VectorStoreFileTable,
  VectorStoreTable,
} from "./tables.ts";

type Row<T> = { [K in keyof T]: T[K] };

/** OpenAI's file object, plus what Bastion found in it. */
export function toFileObject(row: Omit<Row<DocumentFileTable>, "content" | "parsed">) {
  return {
    id: row.id,
    object: "file" as const,
    bytes: Number(row.bytes),
    created_at: Number(row.created_at),
    expires_at: null,
    filename: row.filename,
    purpose: row.purpose,
    status: row.status,
    status_details: row.status_details,
    pages: row.pages,
    /** Personal data detected at ingestion, counts by type. */
    personal_data: parseJson<Record<string, number>>(row.personal_data, {}),
  };
}

export interface FileCounts {
  in_progress: number;
  completed: number;
  failed: number;
  cancelled: number;
  total: number;
}

export function countStatuses(statuses: string[]): FileCounts {
  const counts: FileCounts = {
    in_progress: 0,
    completed: 0,
    failed: 0,
    cancelled: 0,
    total: statuses.length,
  };
  for (const status of statuses) {
    if (status in counts) counts[status as keyof Omit<FileCounts, "total">]++;
  }
  return counts;
}

/** Whether a store's `expires_after` (days after its last activity) has passed. */
export function isExpired(
  row: Pick<VectorStoreTable, "expires_after" | "last_active_at">,
  now = Date.now() / 1000,
): boolean {
  const expiresAfter = parseJson<{ days: number } | null>(row.expires_after, null);
  return expiresAfter !== null && Number(row.last_active_at) + expiresAfter.days * 86400 <= now;
}

export function toVectorStoreObject(
  row: Row<VectorStoreTable>,
  counts: FileCounts,
  usageBytes: number,
  personalData: Record<string, number>,
) {
  const expiresAfter = parseJson<{ anchor: "last_active_at"; days: number } | null>(row.expires_after, null);
  return {
    id: row.id,
    object: "vector_store" as const,
    created_at: Number(row.created_at),
    name: row.name,
    usage_bytes: usageBytes,
    file_counts: counts,
    status: isExpired(row)
      ? ("expired" as const)
      : counts.in_progress > 0
        ? ("in_progress" as const)
        : ("completed" as const),
    expires_after: expiresAfter,
    expires_at: expiresAfter === null ? null : Number(row.last_active_at) + expiresAfter.days * 86400,
    last_active_at: Number(row.last_active_at),
    metadata: parseJson<Record<string, string>>(row.metadata, {}),
    embedding_model: row.embedding_model,
    embedding_dimensions: row.embedding_dimensions,
    /** What the store holds: personal data found in its files, counts by type. */
    personal_data: personalData,
  };
}

export function toVectorStoreFileObject(row: Row<VectorStoreFileTable>) {
  return {
    id: row.file_id,
    object: "vector_store.file" as const,
    usage_bytes: Number(row.usage_bytes),
    created_at: Number(row.created_at),
    vector_store_id: row.vector_store_id,
    status: row.status,
    last_error: parseJson<{ code: string; message: string } | null>(row.last_error, null),
    chunking_strategy: {
      type: "static" as const,
      static: { max_chunk_size_tokens: row.chunk_tokens, chunk_overlap_tokens: row.chunk_overlap },
    },
    attributes: parseJson<Attributes>(row.attributes, {}),
  };
}

export function toBatchObject(row: Row<VectorStoreFileBatchTable>, counts: FileCounts) {
  return {
    id: row.id,
    object: "vector_store.files_batch" as const,
    created_at: Number(row.created_at),
    vector_store_id: row.vector_store_id,
    status:
      row.status === "cancelled"
        ? "cancelled"
        : counts.in_progress > 0
          ? "in_progress"
          : counts.failed > 0 && counts.completed === 0
            ? "failed"
            : "completed",
    file_counts: counts,
  };
}
