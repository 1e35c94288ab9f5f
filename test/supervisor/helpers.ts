// Shared helpers of the supervisor tests: a package folder holding the fixture scripts, program specs, waits.
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { UserProgramFields, UserProgramSpec, SupervisorEvent } from '../../agent/src/supervisor/index.ts';

export const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));

/** A temporary folder with pkg/ (the fixtures, executable), logs/ and state.json; removed by dispose. */
export function workdir(): { dir: string; pkg: string; logs: string; state: string; [Symbol.dispose](): void } {
  const dir = mkdtempSync(join(tmpdir(), `l3af-sup-${process.pid}-`));
  const pkg = join(dir, 'pkg');
  cpSync(FIXTURES, pkg, { recursive: true });
  return { dir, pkg, logs: join(dir, 'logs'), state: join(dir, 'state', 'supervisor.json'), [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Program fields with l3afd's zero values. */
export function program(over: Partial<UserProgramFields> = {}): UserProgramFields {
  return {
    name: 'fixture', version: '1.0.0', cmd_start: 'daemon.sh', cmd_stop: '', cmd_status: '', cmd_update: '',
    user_program_daemon: true, cpu: 0, memory: 0, rules_file: '', rules: '', object_file: '',
    start_args: null, stop_args: null, status_args: null, update_args: null, ...over,
  };
}

export function spec(pkg: string, logDir: string, over: Partial<UserProgramFields> = {}, env: Record<string, string> = {}, key = `lo/xdp_ingress/fixture-${process.pid}`): UserProgramSpec {
  return { key, program: program(over), context: { iface: 'lo', direction: 'xdpingress', packageDir: pkg, logDir }, env };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every 10 ms until true; throws with `what` after `ms`. */
export async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** Collects supervisor events. */
export class Events {
  readonly list: SupervisorEvent[] = [];
  readonly on = (e: SupervisorEvent): void => {
    this.list.push(e);
  };
  of<T extends SupervisorEvent['type']>(type: T): Array<Extract<SupervisorEvent, { type: T }>> {
    return this.list.filter((e): e is Extract<SupervisorEvent, { type: T }> => e.type === type);
  }
}

/** True while `pid` exists and is not a zombie (read from /proc directly). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\S+ \(.*\) [ZX] /s.test(stat);
  } catch {
    return false;
  }
}
