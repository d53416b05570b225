/**
 * A dependency loaded on first use instead of when the importing module loads: native addons
 * (@napi-rs/xattr, zstd-napi) and decoders (xz, bzip2) that a command may never need; a build whose
 * steps are all cached reads no xattr and decompresses nothing, and `stagecraft version` loads none.
 * `require` (not `import()`) keeps each use synchronous; the packages are CommonJS.
 */
import { createRequire } from 'node:module';

/** `load()` requires `specifier` (resolved from `from`, the caller's import.meta.url) once, on first call. */
export function lazyModule<T>(specifier: string, from: string): () => T {
  let loaded: { readonly value: T } | undefined;
  return () => {
    loaded ??= { value: createRequire(from)(specifier) as T };
    return loaded.value;
  };
}
