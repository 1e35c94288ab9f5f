/**
 * The native (malloc) heap of this process. libbpf allocates while it opens and loads an object
 * (ELF sections, BTF, the verifier log) and frees it all afterwards, but glibc keeps freed memory
 * in its arenas: the process stays as large as its largest load. `malloc_trim` hands it back.
 */
import { libcCalls } from './ffi.ts';

/**
 * Returns freed native heap memory to the system (glibc's `malloc_trim(0)`): true when some was
 * released, false when none was or the C library has no such call (musl, Windows).
 */
export function trimNativeHeap(): boolean {
  try {
    return (libcCalls.malloc_trim(0) as number) === 1;
  } catch {
    return false;
  }
}
