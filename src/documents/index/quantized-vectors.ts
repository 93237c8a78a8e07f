/**
 * One vector store's vectors in memory, quantized for fast exact-enough search: sign bits for a
 * Hamming-distance prefilter over every vector, then int8 copies to rescore the best candidates
 * by cosine. sqlite-vec (0.1) scans every float for a KNN query; at 100k chunks of 384 dimensions
 * that is 150 MB per query, while the bits are 4.8 MB and the int8 copies are read only for a
 * few hundred candidates. The floats stay in sqlite-vec, the source of truth this is built from;
 * writes of this process are applied here as they happen.
 */
export interface QuantizedVectors {
  readonly size: number;
  /** The `limit` nearest by cosine among the rows whose file `allowed` accepts (all when absent). */
  search(
    query: Float32Array,
    limit: number,
    allowed?: (fileId: string) => boolean,
  ): Array<{ id: number; score: number }>;
  add(rows: Array<{ id: number; vector: Float32Array; fileId: string }>): void;
  removeFile(fileId: string): void;
}

function popcount(value: number): number {
  let x = value - ((value >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

function grow<T extends Int32Array | Uint32Array | Int8Array | Float32Array>(array: T, size: number): T {
  if (array.length >= size) return array;
  const next = new (array.constructor as new (length: number) => T)(Math.max(size, array.length * 2, 64));
  next.set(array);
  return next;
}

/** Builds the quantized copy of rows `(id, vector, fileId)`, `dimensions` long each. */
export function quantizeVectors(
  rows: Array<{ id: number; vector: Float32Array; fileId: string }>,
  dimensions: number,
): QuantizedVectors {
  const stride = Math.ceil(dimensions / 32);
  let count = 0;
  let ids = new Int32Array(0);
  /** Index into `files`; -1 marks a removed row. */
  let fileIndex = new Int32Array(0);
  let bits = new Uint32Array(0);
  let bytes = new Int8Array(0);
  let norms = new Float32Array(0);
  const files: string[] = [];
  const fileNumbers = new Map<string, number>();
  let live = 0;

  function add(added: Array<{ id: number; vector: Float32Array; fileId: string }>): void {
    const size = count + added.length;
    ids = grow(ids, size);
    fileIndex = grow(fileIndex, size);
    bits = grow(bits, size * stride);
    bytes = grow(bytes, size * dimensions);
    norms = grow(norms, size);
    for (const { id, vector, fileId } of added) {
      const row = count++;
      live++;
      ids[row] = id;
      let number = fileNumbers.get(fileId);
      if (number === undefined) {
        number = files.length;
        files.push(fileId);
        fileNumbers.set(fileId, number);
      }
      fileIndex[row] = number;
      let max = 0;
      for (const value of vector) max = Math.max(max, Math.abs(value));
      const scale = max === 0 ? 0 : 127 / max;
      let norm = 0;
      for (let at = 0; at < dimensions; at++) {
        const value = vector[at] ?? 0;
        if (value > 0) bits[row * stride + (at >>> 5)]! |= 1 << (at & 31);
        const quantized = Math.round(value * scale);
        bytes[row * dimensions + at] = quantized;
        norm += quantized * quantized;
      }
      norms[row] = Math.sqrt(norm);
    }
  }

  add(rows);

  return {
    get size() {
      return live;
    },
    add,
    removeFile(fileId) {
      const number = fileNumbers.get(fileId);
      if (number === undefined) return;
      for (let row = 0; row < count; row++) {
        if (fileIndex[row] === number) {
          fileIndex[row] = -1;
          live--;
        }
      }
    },
    search(query, limit, allowed) {
      if (live === 0) return [];
      const queryBits = new Uint32Array(stride);
      for (let at = 0; at < dimensions; at++)
        if ((query[at] ?? 0) > 0) queryBits[at >>> 5]! |= 1 << (at & 31);
      const allowedFiles = allowed === undefined ? undefined : files.map((fileId) => allowed(fileId));
      // Hamming distances, bucketed (a counting sort: distances are at most `dimensions`).
      const excluded = 0xffff;
      const distance = new Uint16Array(count);
      const buckets = new Uint32Array(dimensions + 1);
      for (let row = 0; row < count; row++) {
        const file = fileIndex[row]!;
        if (file < 0 || (allowedFiles !== undefined && !allowedFiles[file])) {
          distance[row] = excluded;
          continue;
        }
        let total = 0;
        const offset = row * stride;
        for (let word = 0; word < stride; word++) total += popcount(bits[offset + word]! ^ queryBits[word]!);
        distance[row] = total;
        buckets[total]!++;
      }
      const candidates = Math.max(limit * 8, 400);
      let cutoff = 0;
      let below = 0;
      for (; cutoff < dimensions; cutoff++) {
        if (below + buckets[cutoff]! >= candidates) break;
        below += buckets[cutoff]!;
      }
      // Rows at the cutoff distance fill the candidate list up to its size, no further: with
      // clustered vectors one distance can hold thousands of rows.
      let atCutoff = candidates - below;
      let queryNorm = 0;
      for (const value of query) queryNorm += value * value;
      queryNorm = Math.sqrt(queryNorm);
      const scored: Array<{ id: number; score: number }> = [];
      for (let row = 0; row < count; row++) {
        const rowDistance = distance[row]!;
        if (rowDistance > cutoff) continue;
        if (rowDistance === cutoff) {
          if (atCutoff <= 0) continue;
          atCutoff--;
        }
        let dot = 0;
        const offset = row * dimensions;
        for (let at = 0; at < dimensions; at++) dot += bytes[offset + at]! * query[at]!;
        const norm = norms[row]!;
        scored.push({ id: ids[row]!, score: norm === 0 || queryNorm === 0 ? 0 : dot / (norm * queryNorm) });
      }
      return scored.sort((a, b) => b.score - a.score || a.id - b.id).slice(0, limit);
    },
  };
}
