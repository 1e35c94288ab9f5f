// What a benchmark report records about the machine it ran on.
import { readFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { libbpfVersion } from '../../agent/src/bpf/index.ts';

/** The machine and software a benchmark ran on. */
export interface BenchEnvironment {
  /** ISO timestamp of the start of the run. */
  readonly date: string;
  /** `uname -r`. */
  readonly kernel: string;
  /** `model name` from /proc/cpuinfo. */
  readonly cpuModel: string;
  readonly cpuCount: number;
  /** libbpf as loaded by the kernel layer. */
  readonly libbpf: string;
  readonly node: string;
  /** /proc/sys/net/core/bpf_jit_enable (1 = JIT on). */
  readonly jit: string;
  /** /proc/sys/kernel/bpf_stats_enabled: run-time accounting adds to every program run. */
  readonly bpfStats: string;
  /** The kernel's clocksource, which bpf_ktime_get_ns() reads (kvm-clock, tsc, ...). */
  readonly clocksource: string;
}

function readProc(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

function cpuModel(): string {
  const m = /^model name\s*:\s*(.+)$/m.exec(readProc('/proc/cpuinfo'));
  return m?.[1]?.trim() ?? cpus()[0]?.model ?? 'unknown';
}

/** Describes this machine now. */
export function benchEnvironment(): BenchEnvironment {
  return {
    date: new Date().toISOString(),
    kernel: release(),
    cpuModel: cpuModel(),
    cpuCount: cpus().length,
    libbpf: libbpfVersion(),
    node: process.version,
    jit: readProc('/proc/sys/net/core/bpf_jit_enable'),
    bpfStats: readProc('/proc/sys/kernel/bpf_stats_enabled'),
    clocksource: readProc('/sys/devices/system/clocksource/clocksource0/current_clocksource'),
  };
}
