// What a benchmark report records about the machine it ran on.
import { readFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { libbpfVersion, statsHolders, type StatsHolder } from '../../agent/src/bpf/index.ts';

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
  /**
   * Kernel run statistics as the kernel applies them: on when the sysctl is set OR any process holds a
   * BPF_ENABLE_STATS fd (the sysctl does not show those). Either way every program run is timed.
   * E.g. "off (sysctl 0, no stats fd)" or "ON (sysctl 0; stats fd held by 1234 node)".
   */
  readonly bpfStats: string;
  /** Whether the kernel times program runs now (sysctl or a holder). */
  readonly bpfStatsOn: boolean;
  /** The processes holding a stats fd. */
  readonly bpfStatsHolders: readonly StatsHolder[];
  /** 1-minute load average at the start of the run (the VM is shared; figures are same-run ratios). */
  readonly loadAvg: string;
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

/** Kernel run statistics as the kernel applies them now. */
export function bpfStatsState(): { text: string; on: boolean; holders: StatsHolder[] } {
  const sysctl = readProc('/proc/sys/kernel/bpf_stats_enabled');
  const holders = statsHolders();
  const on = (sysctl !== '0' && sysctl !== 'unknown') || holders.length > 0;
  const who = holders.length === 0 ? 'no stats fd' : `stats fd held by ${holders.map((h) => `${h.pid} ${h.comm}`).join(', ')}`;
  return { text: `${on ? 'ON' : 'off'} (sysctl ${sysctl}; ${who})`, on, holders };
}

/** The load averages (1, 5, 15 min) from /proc/loadavg. */
export function loadAverage(): string {
  return readProc('/proc/loadavg').split(' ').slice(0, 3).join(' ');
}

/** Describes this machine now. */
export function benchEnvironment(): BenchEnvironment {
  return {
    date: new Date().toISOString(),
    kernel: release(),
    cpuModel: cpuModel(),
    cpuCount: cpus().length,
    libbpf: libbpfVersion(),
    // with the V8 flags this process runs with (the agent's, under npm run bench)
    node: ((flags) => (flags.length > 0 ? `${process.version} (${flags.join(' ')})` : process.version))(process.execArgv.filter((a, i, all) => a !== '--import' && all[i - 1] !== '--import')),
    jit: readProc('/proc/sys/net/core/bpf_jit_enable'),
    ...((st) => ({ bpfStats: st.text, bpfStatsOn: st.on, bpfStatsHolders: st.holders }))(bpfStatsState()),
    loadAvg: loadAverage(),
    clocksource: readProc('/sys/devices/system/clocksource/clocksource0/current_clocksource'),
  };
}
