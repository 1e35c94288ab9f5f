import { C } from './ffi.ts';

/** The version of the libbpf this process loaded, e.g. `v1.1`. */
export function libbpfVersion(): string {
  return C.libbpf_version_string() as string;
}
