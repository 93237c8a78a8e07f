import type SQLite from "better-sqlite3";
import { sql } from "kysely";
import * as sqliteVec from "sqlite-vec";
import type { ChunkIndex, IndexHit, IndexScope } from "./chunk-index.ts";
import { queryTerms } from "./chunk-index.ts";
import { type QuantizedVectors, quantizeVectors } from "./quantized-vectors.ts";

const loaded = new WeakSet<SQLite.Database>();

function vectorTable(dimensions: number): string {
  return `document_vectors_${dimensions}`;
}

function vectorBytes(vector: Float32Array): Buffer {
  return Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength);
}

function placeholders(count: number): string {
  return new Array(count).fill("?").join(", ");
}

/**
 * SQLite: FTS5 (`unicode61 remove_diacritics 2`, BM25) for keywords and sqlite-vec `vec0` tables
 * for vectors, one per dimension, partitioned by vector store so a search reads only its stores.
 * Triggers on `document_chunks` delete the matching FTS5 and vector rows, so erasing a chunk
 * erases it everywhere in the same transaction.
 */
export function createSqliteChunkIndex(
  sqlite: SQLite.Database,
  options: {
    /**
     * From this many chunks on, vector search runs over quantized in-memory copies (sign-bit
     * prefilter, int8 rescoring) instead of sqlite-vec's exact full scan.
     */
    quantizeAbove?: number;
  } = {},
): ChunkIndex {
  const quantizeAbove = options.quantizeAbove ?? 20_000;
  if (!loaded.has(sqlite)) {
    sqliteVec.load(sqlite);
    loaded.add(sqlite);
  }
  const knownTables = new Set<number>();
  // Quantized in-memory copies of each store's vectors (see quantized-vectors.ts), and the chunk
  // count for keyword pruning. This process's own writes update them in place (or drop one
  // store's); another connection's change to the chunks drops them all. That change is told by
  // the `documents_version` row (migration 0007: triggers on `document_chunks` give it a new
  // random value), not by `PRAGMA data_version`: that one also changes with every commit of the
  // shared writer's thread (usage rows, audit records), which rebuilt large stores' copies on
  // nearly every search.
  const vectorCaches = new Map<string, QuantizedVectors>();
  let chunkCount: number | undefined;
  const versionStatement = sqlite
    .prepare("select version from documents_version where id = 1")
    .pluck()
    .safeIntegers();
  // The version the caches above agree with; undefined before the first read.
  let knownVersion: bigint | undefined;
  let vocabularyReady = false;
  const documentFrequencies = new Map<string, number>();
  let documentFrequencyBase = 0;

  function readVersion(): bigint {
    return versionStatement.get() as bigint;
  }

  function dropCaches(): void {
    vectorCaches.clear();
    chunkCount = undefined;
  }

  function checkExternalWrites(): void {
    const version = readVersion();
    if (version !== knownVersion) {
      knownVersion = version;
      dropCaches();
    }
  }

  /**
   * Runs one of this index's own writes (inside the caller's transaction, which holds the write
   * lock from its `BEGIN IMMEDIATE`). Another connection's changes committed before it are taken
   * first; then the version the write's own triggers leave is adopted, since `write` keeps the
   * caches in step itself. If that transaction rolls back, the version goes back to a value the
   * caches no longer agree with, and the next search drops them. A search that ran in the middle
   * of the write (same connection, so it saw part of it) may have rebuilt a copy from that part:
   * then everything is dropped. So is everything when the write fails: the copies may hold rows
   * that its rollback takes back, and whose ids the next insert will use again.
   */
  async function ownWrite(write: () => Promise<void>): Promise<void> {
    checkExternalWrites();
    const before = knownVersion;
    try {
      await write();
    } catch (error) {
      dropCaches();
      knownVersion = undefined;
      throw error;
    }
    if (knownVersion !== before) dropCaches();
    knownVersion = readVersion();
  }

  function forgetStore(vectorStoreId: string): void {
    for (const key of [...vectorCaches.keys()])
      if (key.endsWith(`:${vectorStoreId}`)) vectorCaches.delete(key);
    chunkCount = undefined;
  }

  function cachesOf(vectorStoreId: string): QuantizedVectors[] {
    return [...vectorCaches.entries()]
      .filter(([key]) => key.endsWith(`:${vectorStoreId}`))
      .map(([, cache]) => cache);
  }

  function cachedVectors(dimensions: number, vectorStoreId: string): QuantizedVectors {
    const key = `${dimensions}:${vectorStoreId}`;
    let cached = vectorCaches.get(key);
    if (cached === undefined) {
      const files = new Map(
        (
          sqlite
            .prepare("select id, file_id from document_chunks where vector_store_id = ?")
            .all(vectorStoreId) as Array<{ id: number; file_id: string }>
        ).map((row) => [row.id, row.file_id]),
      );
      const rows = (
        sqlite
          .prepare(`select rowid as id, embedding from ${vectorTable(dimensions)} where vector_store_id = ?`)
          .all(vectorStoreId) as Array<{ id: number; embedding: Buffer }>
      ).map((row) => ({
        id: row.id,
        vector: new Float32Array(
          row.embedding.buffer.slice(
            row.embedding.byteOffset,
            row.embedding.byteOffset + row.embedding.byteLength,
          ),
        ),
        fileId: files.get(row.id) ?? "",
      }));
      cached = quantizeVectors(rows, dimensions);
      vectorCaches.set(key, cached);
    }
    return cached;
  }

  /**
   * Terms found in more than a tenth of all chunks barely move BM25 (their IDF is near zero) but
   * cost a posting list each: on a large index they are left out of the OR query, as long as a
   * rarer term remains.
   */
  function selectiveTerms(terms: string[]): string[] {
    if (terms.length < 2) return terms;
    chunkCount ??= (sqlite.prepare("select count(*) as n from document_chunks").get() as { n: number }).n;
    if (chunkCount < 2000) return terms;
    if (!vocabularyReady) {
      sqlite.exec(
        "create virtual table if not exists document_chunks_vocab using fts5vocab(document_chunks_fts, row)",
      );
      vocabularyReady = true;
    }
    // Counting a term's documents walks its posting list: counts are remembered until the index
    // has grown or shrunk by a tenth, which is all the precision a cut at 10 % needs.
    if (Math.abs(chunkCount - documentFrequencyBase) > chunkCount / 10) {
      documentFrequencies.clear();
      documentFrequencyBase = chunkCount;
    }
    const lookup = sqlite.prepare("select doc from document_chunks_vocab where term = ?");
    const counted = terms.map((term) => {
      let df = documentFrequencies.get(term);
      if (df === undefined) {
        df = (lookup.get(term) as { doc: number } | undefined)?.doc ?? 0;
        if (documentFrequencies.size > 50_000) documentFrequencies.clear();
        // A term not indexed yet may arrive with the next file: only counts above zero are kept.
        if (df > 0) documentFrequencies.set(term, df);
      }
      return { term, df };
    });
    const limit = chunkCount / 10;
    const kept = counted.filter((entry) => entry.df > 0 && entry.df <= limit).map((entry) => entry.term);
    if (kept.length > 0) return kept;
    return counted
      .filter((entry) => entry.df > 0)
      .sort((a, b) => a.df - b.df)
      .slice(0, 2)
      .map((entry) => entry.term);
  }

  function ensureVectorTable(dimensions: number): void {
    if (knownTables.has(dimensions)) return;
    const table = vectorTable(dimensions);
    sqlite.exec(
      `create virtual table if not exists ${table} using vec0(vector_store_id text partition key, embedding float[${dimensions}] distance_metric=cosine)`,
    );
    sqlite.exec(
      `create trigger if not exists ${table}_erase after delete on document_chunks begin delete from ${table} where rowid = old.id; end`,
    );
    knownTables.add(dimensions);
  }

  function existingDimensions(): number[] {
    const rows = sqlite
      .prepare("select name from sqlite_master where type = 'table' and name like 'document_vectors_%'")
      .all() as Array<{ name: string }>;
    return rows
      .map((row) => Number(/^document_vectors_(\d+)$/.exec(row.name)?.[1]))
      .filter((value) => Number.isInteger(value) && value > 0);
  }

  function fileClause(scope: IndexScope, column: string): { clause: string; params: string[] } {
    if (scope.fileIds === undefined) return { clause: "", params: [] };
    return {
      clause: ` and ${column} in (select id from document_chunks where file_id in (${placeholders(scope.fileIds.length)}) and vector_store_id in (${placeholders(scope.vectorStoreIds.length)}))`,
      params: [...scope.fileIds, ...scope.vectorStoreIds],
    };
  }

  return {
    async insert(trx, rows, chunks, vectors) {
      await ownWrite(async () => {
        const dimensions = vectors[0]?.length;
        // The in-memory copy takes the new rows as they are written.
        const cache =
          dimensions === undefined ? undefined : vectorCaches.get(`${dimensions}:${rows.vectorStoreId}`);
        if (chunkCount !== undefined) chunkCount += chunks.length;
        if (dimensions !== undefined) ensureVectorTable(dimensions);
        for (const [index, chunk] of chunks.entries()) {
          const inserted = await trx
            .insertInto("document_chunks")
            .values({
              tenant_id: rows.tenantId,
              vector_store_id: rows.vectorStoreId,
              file_id: rows.fileId,
              seq: chunk.seq,
              text: chunk.text,
              page: chunk.page,
              start_char: chunk.start,
              end_char: chunk.end,
              token_count: chunk.tokens,
              embedding: null,
            })
            .returning("id")
            .executeTakeFirstOrThrow();
          const vector = vectors[index];
          if (vector !== undefined) cache?.add([{ id: Number(inserted.id), vector, fileId: rows.fileId }]);
          if (vector !== undefined && dimensions !== undefined) {
            await sql`insert into ${sql.table(vectorTable(dimensions))} (rowid, vector_store_id, embedding) values (cast(${inserted.id} as integer), ${rows.vectorStoreId}, ${vectorBytes(vector)})`.execute(
              trx,
            );
          }
        }
      });
    },
    async removeFile(trx, vectorStoreId, fileId) {
      await ownWrite(async () => {
        for (const cache of cachesOf(vectorStoreId)) cache.removeFile(fileId);
        chunkCount = undefined;
        await trx
          .deleteFrom("document_chunks")
          .where("vector_store_id", "=", vectorStoreId)
          .where("file_id", "=", fileId)
          .execute();
      });
    },
    async removeStore(trx, vectorStoreId) {
      await ownWrite(async () => {
        forgetStore(vectorStoreId);
        await trx.deleteFrom("document_chunks").where("vector_store_id", "=", vectorStoreId).execute();
      });
    },
    async warm() {
      checkExternalWrites();
      chunkCount ??= (sqlite.prepare("select count(*) as n from document_chunks").get() as { n: number }).n;
      if (chunkCount < quantizeAbove) return 0;
      let loaded = 0;
      for (const dimensions of existingDimensions()) {
        const stores = sqlite
          .prepare("select distinct vector_store_id as id from document_chunks")
          .all() as Array<{ id: string }>;
        for (const { id } of stores) loaded += cachedVectors(dimensions, id).size;
      }
      return loaded;
    },
    async readVectors(ids) {
      const out = new Map<number, Float32Array>();
      for (const dimensions of existingDimensions()) {
        const statement = sqlite.prepare(
          `select rowid as id, embedding from ${vectorTable(dimensions)} where rowid = ?`,
        );
        for (const id of ids) {
          if (out.has(id)) continue;
          const row = statement.get(id) as { id: number; embedding: Buffer } | undefined;
          if (row !== undefined)
            out.set(
              id,
              new Float32Array(
                row.embedding.buffer.slice(
                  row.embedding.byteOffset,
                  row.embedding.byteOffset + row.embedding.byteLength,
                ),
              ),
            );
        }
      }
      return out;
    },
    async keyword(scope, query, limit): Promise<IndexHit[]> {
      if (scope.vectorStoreIds.length === 0) return [];
      checkExternalWrites();
      const terms = selectiveTerms(queryTerms(query));
      if (terms.length === 0) return [];
      const match = terms.map((term) => `"${term}"`).join(" OR ");
      const files = fileClause(scope, "rowid");
      const rows = sqlite
        .prepare(
          `select rowid as id, bm25(document_chunks_fts) as rank from document_chunks_fts where document_chunks_fts match ? and vector_store_id in (${placeholders(scope.vectorStoreIds.length)})${files.clause} order by rank limit ?`,
        )
        .all(match, ...scope.vectorStoreIds, ...files.params, limit) as Array<{ id: number; rank: number }>;
      // FTS5's bm25() is lower-is-better and negative; flip it.
      return rows.map((row) => ({ id: row.id, score: -row.rank }));
    },
    async vector(scope, vector, limit): Promise<IndexHit[]> {
      if (scope.vectorStoreIds.length === 0) return [];
      if (!existingDimensions().includes(vector.length)) return [];
      checkExternalWrites();
      chunkCount ??= (sqlite.prepare("select count(*) as n from document_chunks").get() as { n: number }).n;
      if (chunkCount >= quantizeAbove) {
        const allowed = scope.fileIds === undefined ? undefined : new Set(scope.fileIds);
        const hits: IndexHit[] = [];
        for (const vectorStoreId of scope.vectorStoreIds) {
          const cached = cachedVectors(vector.length, vectorStoreId);
          hits.push(
            ...cached.search(vector, limit, allowed === undefined ? undefined : (file) => allowed.has(file)),
          );
        }
        return hits.sort((a, b) => b.score - a.score || a.id - b.id).slice(0, limit);
      }
      const table = vectorTable(vector.length);
      let rows: Array<{ id: number; distance: number }>;
      if (scope.fileIds === undefined) {
        rows = sqlite
          .prepare(
            `select rowid as id, distance from ${table} where embedding match ? and k = ? and vector_store_id in (${placeholders(scope.vectorStoreIds.length)}) order by distance`,
          )
          .all(vectorBytes(vector), limit, ...scope.vectorStoreIds) as Array<{
          id: number;
          distance: number;
        }>;
      } else {
        // Filtered: exact distances over the allowed files only (a KNN then a filter could return too few).
        const files = fileClause(scope, "rowid");
        rows = sqlite
          .prepare(
            `select rowid as id, vec_distance_cosine(embedding, ?) as distance from ${table} where vector_store_id in (${placeholders(scope.vectorStoreIds.length)})${files.clause} order by distance limit ?`,
          )
          .all(vectorBytes(vector), ...scope.vectorStoreIds, ...files.params, limit) as Array<{
          id: number;
          distance: number;
        }>;
      }
      return rows.map((row) => ({ id: row.id, score: 1 - row.distance }));
    },
  };
}

/** Loads sqlite-vec into a SQLite handle (idempotent). */
export function loadSqliteVec(sqlite: SQLite.Database): void {
  if (loaded.has(sqlite)) return;
  sqliteVec.load(sqlite);
  loaded.add(sqlite);
}
