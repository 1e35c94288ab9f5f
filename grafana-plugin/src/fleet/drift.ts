/**
 * Drift across a fleet, from each agent's `GET /l3af/configs/v1?status=true`: (1) agents whose desired state
 * differs from a chosen reference (per interface name and direction: programs missing, extra, in another
 * order, or with another version, admin status, artifact or arguments; host name, address and live status
 * are not compared), (2) programs whose kernel state disagrees with their desired state (enabled but not
 * attached, attached without a kernel program, or a last error; disabled yet attached).
 */
import { DIRECTIONS, type GetInterface, type GetProgram } from '../api/types';

/** What matters of a program's desired state (status and host-specific fields left out). */
function desiredOf(p: GetProgram): string {
  const { status: _s, id: _id, ...rest } = p as GetProgram & { id?: number };
  const keys = Object.keys(rest).sort() as Array<keyof typeof rest>;
  return JSON.stringify(keys.map((k) => [k, rest[k] ?? null]));
}

/** Differences of `docs` from `reference`, one line each ("veth0 xdp_ingress: ratelimiting version 1.0 → 2.0"). */
export function desiredDrift(reference: readonly GetInterface[], docs: readonly GetInterface[]): string[] {
  const out: string[] = [];
  const byIface = (d: readonly GetInterface[]) => new Map(d.map((x) => [x.iface, x]));
  const ref = byIface(reference);
  const got = byIface(docs);
  for (const iface of [...new Set([...ref.keys(), ...got.keys()])].sort()) {
    for (const dir of DIRECTIONS) {
      const want = ref.get(iface)?.bpf_programs[dir] ?? [];
      const have = got.get(iface)?.bpf_programs[dir] ?? [];
      const where = `${iface} ${dir}`;
      const haveByName = new Map(have.map((p) => [p.name, p]));
      const wantNames = new Set(want.map((p) => p.name));
      for (const w of want) {
        const h = haveByName.get(w.name);
        if (!h) {
          out.push(`${where}: ${w.name} missing`);
        } else if (h.version !== w.version) {
          out.push(`${where}: ${w.name} version ${h.version}, reference ${w.version}`);
        } else if (h.admin_status !== w.admin_status) {
          out.push(`${where}: ${w.name} ${h.admin_status}, reference ${w.admin_status}`);
        } else if (desiredOf(h) !== desiredOf(w)) {
          out.push(`${where}: ${w.name} settings differ (artifact, arguments or sequence)`);
        }
      }
      for (const h of have) {
        if (!wantNames.has(h.name)) {
          out.push(`${where}: ${h.name} not in the reference`);
        }
      }
      const order = (l: readonly GetProgram[]) =>
        l.filter((p) => wantNames.has(p.name) && haveByName.has(p.name)).map((p) => p.name);
      if (out.every((l) => !l.startsWith(`${where}:`)) && order(want).join() !== order(have).join()) {
        out.push(`${where}: order ${order(have).join(', ')}, reference ${order(want).join(', ')}`);
      }
    }
  }
  return out;
}

/** One program whose kernel state disagrees with its desired state. */
export interface KernelDrift {
  iface: string;
  direction: string;
  name: string;
  problem: string;
}

/** Programs whose live status (GET `?status=true`) disagrees with their desired state. */
export function kernelDrift(docs: readonly GetInterface[]): KernelDrift[] {
  const out: KernelDrift[] = [];
  for (const d of docs) {
    for (const dir of DIRECTIONS) {
      for (const p of d.bpf_programs[dir] ?? []) {
        const s = p.status;
        const at = { iface: d.iface, direction: dir, name: p.name };
        if (!s) {
          out.push({ ...at, problem: 'no status (agent without ?status=true)' });
        } else if (s.last_error) {
          out.push({ ...at, problem: `last error: ${s.last_error}` });
        } else if (p.admin_status === 'enabled' && !s.attached) {
          out.push({ ...at, problem: 'enabled but not attached' });
        } else if (p.admin_status === 'enabled' && s.kernel_prog_id === 0) {
          out.push({ ...at, problem: 'attached without a kernel program' });
        } else if (p.admin_status === 'disabled' && s.attached) {
          out.push({ ...at, problem: 'disabled but still attached' });
        }
      }
    }
  }
  return out;
}
