/** Types for `unbzip2-stream`'s block decoder (the package ships none). */
declare module 'unbzip2-stream/lib/bit_iterator.js' {
  /** Reads `n` bits (MSB first) from buffers `next` hands out; `null` aligns to the next byte. */
  interface BitReader {
    (n: number | null): number;
    /** Bytes started so far. */
    bytesRead: number;
  }
  function bitIterator(next: () => Uint8Array): BitReader;
  export default bitIterator;
}

declare module 'unbzip2-stream/lib/bzip2.js' {
  import type bitIterator from 'unbzip2-stream/lib/bit_iterator.js';
  type BitReader = ReturnType<typeof bitIterator>;
  const bzip2: {
    /** Reads a stream header ("BZh" + level); returns the block size in units of 100 kB (1–9). */
    header(bits: BitReader): number;
    /**
     * Decodes one block, handing every output byte to `emit`; `work` holds `size` 32-bit words.
     * Returns the running stream CRC, or null at the end-of-stream marker (whose CRC it checks).
     */
    decompress(bits: BitReader, emit: (byte: number) => void, work: Int32Array, size: number, streamCrc: number | null): number | null;
  };
  export default bzip2;
}
