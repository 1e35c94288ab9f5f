/** Network interfaces by name and index, as the kernel numbers them. */
import { C } from './ffi.ts';
import { BpfError } from './errors.ts';

/** The index of interface `name`; a clear ENODEV naming it when there is none. */
export function ifindex(name: string | number): number {
  if (typeof name === 'number') return name;
  const idx = C.if_nametoindex(name) as number;
  if (!idx) throw new BpfError({ op: 'if_nametoindex', subject: { interface: name }, errno: 19, hint: `no interface named '${name}'` });
  return idx;
}

/** The name of interface `index`, or undefined. */
export function ifname(index: number): string | undefined {
  const buf = Buffer.alloc(64);
  const ret = C.if_indextoname(index, buf) as bigint | null;
  if (!ret) return undefined;
  return buf.toString('utf8', 0, buf.indexOf(0));
}
