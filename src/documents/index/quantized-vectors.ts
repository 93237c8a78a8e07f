/**
 * One vector store's vectors in memory, quantized for fast exact-enough search: sign bits for a
 * Hamming-distance prefilter over every vector, then int8 copies to rescore the best candidates
 * by cosine. sqlite-vec (0.1) scans every float for a KNN query; at 100k chunks of 384 dimensions
 * that is 150 MB per query, while the bits are 4.8 MB and the int8 copies are read only for a
 * few hundred candidates. The floats stay in sqlite-vec, the source of truth this is rebuilt from.
 */
export interface QuantizedVectors {
  readonly size: number;
  /** The `limit` nearest by cosine among the rows `allowed` accepts (all when absent). */
  search(
    query: Float32Array,
    limit: number,
    allowed?: (fileIndex: number) => boolean,
  ): Array<{ id: number; score: number }>;
  /** File id of each row's file index, for filters. */
  readonly files: string[];
}

const words = (dimensions: number) => Math.ceil(dimensions / 32);

function popcount(value: number): number {
  let x = value - ((value >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

function signBits(vector: Float32Array, out: Uint32Array, offset: number): void {
  for (let at = 0; at < vector.length; at++) {
    if (vector[at]! > 0) out[offset + (at >>> 5)]! |= 1 << (at & 31);
  }
}

/** Builds the quantized copy of rows `(id, vector, fileId)`. */
export function quantizeVectors(
  rows: Array<{ id: number; vector: Float32Array; fileId: string }>,
  dimensions: number,
): QuantizedVectors {
  const count = rows.length;
  const stride = words(dimensions);
  const ids = new Int32Array(count);
  const fileIndex = new Int32Array(count);
  const bits = new Uint32Array(count * stride);
  const bytes = new Int8Array(count * dimensions);
  const norms = new Float32Array(count);
  const files: string[] = [];
  const fileNumbers = new Map<string, number>();
  for (const [row, { id, vector, fileId }] of rows.entries()) {
    ids[row] = id;
    let number = fileNumbers.get(fileId);
    if (number === undefined) {
      number = files.length;
      files.push(fileId);
      fileNumbers.set(fileId, number);
    }
    fileIndex[row] = number;
    signBits(vector, bits, row * stride);
    let max = 0;
    for (const value of vector) max = Math.max(max, Math.abs(value));
    const scale = max === 0 ? 0 : 127 / max;
    let norm = 0;
    for (let at = 0; at < dimensions; at++) {
      const quantized = Math.round((vector[at] ?? 0) * scale);
      bytes[row * dimensions + at] = quantized;
      norm += quantized * quantized;
    }
    norms[row] = Math.sqrt(norm);
  }

  return {
    size: count,
    files,
    search(query, limit, allowed) {
      if (count === 0) return [];
      const queryBits = new Uint32Array(stride);
      signBits(query, queryBits, 0);
      // Hamming distances, bucketed (counting sort): distances are at most `dimensions`.
      const distance = new Uint16Array(count);
      const excluded = 0xffff;
      const buckets = new Uint32Array(dimensions + 2);
      for (let row = 0; row < count; row++) {
        if (allowed !== undefined && !allowed(fileIndex[row]!)) {
          distance[row] = excluded;
          continue;
        }
        let total = 0;
        const offset = row * stride;
        for (let word = 0; word < stride; word++) total += popcount(bits[offset + word]! ^ queryBits[word]!);
        distance[row] = total;
        buckets[total]!++;
      }
      const candidates = Math.min(count, Math.max(limit * 8, 400));
      let cutoff = 0;
      for (let seen = 0; cutoff <= dimensions; cutoff++) {
        seen += buckets[cutoff]!;
        if (seen >= candidates) break;
      }
      let queryNorm = 0;
      for (const value of query) queryNorm += value * value;
      queryNorm = Math.sqrt(queryNorm);
      const scored: Array<{ id: number; score: number }> = [];
      for (let row = 0; row < count; row++) {
        if (distance[row]! > Math.min(cutoff, dimensions)) continue;
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
