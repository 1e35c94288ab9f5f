/**
 * Checks of a request against this host, run after the schema and semantic checks: every
 * element's `host_name` must be this node's name and its `iface` an existing, non-loopback
 * interface (l3afd rejected both too, but with a 500 and only the first problem).
 */
import { hostName, interfaceInfo, type InterfaceInfo } from '../platform/host.ts';
import type { FieldError } from '../payload/index.ts';

/** The host facts the API checks requests against (injectable for tests). */
export interface HostFacts {
  /** This node's host name. */
  hostName(): string;
  /** Details of an interface, undefined when it does not exist. */
  interfaceInfo(name: string): InterfaceInfo | undefined;
}

/** The real host. */
export const realHost: HostFacts = { hostName, interfaceInfo };

/**
 * Problems of `host_name` / `iface` in each element of a body (add, update or delete), with their
 * JSON pointers. Interfaces are looked up on every call, so interfaces created after the agent
 * started can be targeted.
 */
export function checkHostAndInterfaces(body: readonly { host_name: string; iface: string }[], host: HostFacts): FieldError[] {
  const problems: FieldError[] = [];
  const me = host.hostName();
  body.forEach((e, i) => {
    if (e.host_name !== me) {
      problems.push({ path: `/${i}/host_name`, message: `"${e.host_name}" is not this host (this host is "${me}")` });
    }
    const info = host.interfaceInfo(e.iface);
    if (info === undefined) {
      problems.push({ path: `/${i}/iface`, message: `interface "${e.iface}" does not exist on this host` });
    } else if (info.loopback) {
      problems.push({ path: `/${i}/iface`, message: `interface "${e.iface}" is a loopback interface; programs cannot be attached to it` });
    }
  });
  return problems;
}
