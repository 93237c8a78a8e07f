/**
 * A small seeded PRNG (xoshiro128**) so that synthetic weights are the same bytes for the same
 * seed on every machine. Not for anything security-related.
 */
export class SeededRandom {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  constructor(seed: number, stream = "") {
    // splitmix32 over (seed, stream) spreads neighbouring seeds and tensor names apart.
    let h = (seed ^ 0x9e3779b9) >>> 0;
    for (let i = 0; i < stream.length; i++) h = Math.imul(h ^ stream.charCodeAt(i), 0x01000193) >>> 0;
    const next = () => {
      h = (h + 0x9e3779b9) >>> 0;
      let z = h;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.#a = next();
    this.#b = next();
    this.#c = next();
    this.#d = next() | 1;
  }

  /** A uniform 32-bit unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.#b, 5), 7), 9) >>> 0;
    const t = this.#b << 9;
    this.#c ^= this.#a;
    this.#d ^= this.#b;
    this.#b ^= this.#c;
    this.#a ^= this.#d;
    this.#c ^= t;
    this.#d = rotl(this.#d, 11);
    return result;
  }

  /**
   * Fills `out` with bell-shaped values of mean 0 and standard deviation `std`: the sum of two
   * uniforms (a triangle), close enough to a normal for weights nobody reads, and one PRNG call.
   */
  fillNormalish(out: Float32Array, std: number): void {
    // Two 16-bit uniforms per 32-bit draw; their sum minus 1 is triangular on (-1, 1), std 1/sqrt(6).
    const scale = std * Math.sqrt(6);
    for (let i = 0; i < out.length; i++) {
      const r = this.nextUint32();
      out[i] = ((r & 0xffff) + (r >>> 16) - 65535) * (scale / 65536);
    }
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
