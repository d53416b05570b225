/** Types for `unbzip2-stream` (ships none): a classic through-stream that decompresses bzip2. */
declare module 'unbzip2-stream' {
  function unbzip2Stream(): NodeJS.ReadWriteStream;
  export default unbzip2Stream;
}
