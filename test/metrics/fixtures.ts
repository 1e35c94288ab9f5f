// Programs the observability tests load themselves: an object loaded into a private bpffs with
// every map pinned under <bpffs>/<iface>/<name>/<version>, and the RunningProgram the engine
// would report for it.
import { mkdirSync } from 'node:fs';
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import { BpfObject, type BpfProgram } from '../../agent/src/bpf/index.ts';
import type { MonitorMap } from '../../agent/src/payload/index.ts';
import type { PayloadDirection, RunningProgram } from '../../agent/src/engine/types.ts';
import type { PrivateBpffs } from '../harness/index.ts';
import { programObject } from '../programs/frames.ts';

/** A loaded object with pinned maps. */
export class Loaded implements Disposable {
  readonly obj: BpfObject;
  readonly prog: BpfProgram;
  readonly pinDir: string;

  constructor(bpffs: PrivateBpffs, object: string, program: string, dir: string[]) {
    this.obj = BpfObject.open(object);
    try {
      this.obj.load();
      this.prog = this.obj.program(program);
      this.pinDir = bpffs.join(...dir.map((s) => s.replace(/\./g, '_')));
      mkdirSync(this.pinDir, { recursive: true });
      for (const m of this.obj.maps()) m.pin(`${this.pinDir}/${m.name}`);
    } catch (err) {
      this.obj.close();
      throw err;
    }
  }

  running(o: { iface: string; name: string; version?: string; direction?: PayloadDirection; ipv4?: string; monitorMaps?: MonitorMap[] }): RunningProgram {
    return {
      iface: o.iface, direction: o.direction ?? 'xdp_ingress', name: o.name, version: o.version ?? '1.0', ipv4: o.ipv4 ?? '',
      progId: this.prog.info().id, mapPinDir: this.pinDir, monitorMaps: o.monitorMaps ?? [],
    };
  }

  [Symbol.dispose](): void {
    this.obj.close();
  }
}

/** ratelimiting.bpf.o pinned at <bpffs>/<iface>/ratelimiting/<version>. */
export function loadRatelimiting(bpffs: PrivateBpffs, iface: string, version = '1.0'): Loaded {
  return new Loaded(bpffs, programObject('ratelimiting'), '_xdp_ratelimiting', [iface, 'ratelimiting', version]);
}

/** test/bpf/obs_maps.bpf.c pinned at <bpffs>/<iface>/obs/<version>. */
export function loadObsMaps(bpffs: PrivateBpffs, iface: string, version = '1.0'): Loaded {
  return new Loaded(bpffs, programObject('test/obs_maps'), 'obs_xdp', [iface, 'obs', version]);
}

/** A pino logger whose lines are kept in `lines` (parsed). */
export function memoryLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, dest), lines };
}

/** test/bpf/obs_typed.bpf.c (struct-keyed maps) pinned at <bpffs>/<iface>/obs_typed/<version>. */
export function loadObsTyped(bpffs: PrivateBpffs, iface: string, version = '1.0'): Loaded {
  return new Loaded(bpffs, programObject('test/obs_typed'), 'obs_typed_xdp', [iface, 'obs_typed', version]);
}
