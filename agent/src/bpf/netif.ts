/** Network interfaces by name and index, as the kernel numbers them. */
import { C } from './ffi.ts';
import { BpfError } from './errors.ts';
import { platform } from './platform.ts';

/** Windows: the index of the interface whose friendly name (alias) is `name`, 0 when none. */
function aliasIndex(name: string): number {
  if (platform.name !== 'windows') return 0;
  const luid = [0n];
  if ((C.ConvertInterfaceAliasToLuid(name, luid) as number) !== 0) return 0;
  const index = [0];
  return (C.ConvertInterfaceLuidToIndex(luid, index) as number) === 0 ? (index[0] ?? 0) : 0;
}

/** The index of interface `name` (on Windows its NDIS name or its friendly name); a clear ENODEV naming it when there is none. */
export function ifindex(name: string | number): number {
  if (typeof name === 'number') return name;
  const idx = (C.if_nametoindex(name) as number) || aliasIndex(name);
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
