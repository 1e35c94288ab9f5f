/**
 * The observer contract: what the engine tells the observability side (metrics, map monitors, event
 * streams, telemetry) about the programs it runs. Below both, so that neither imports the other.
 */
import type { EventMap, MapArg, MonitorMap } from '../payload/index.ts';

/** The four program lists of a payload. */
export type PayloadDirection = 'xdp_ingress' | 'tc_ingress' | 'tc_egress' | 'probes';

/** A program as the observability side sees it (metrics, map monitors, event streams). */
export interface RunningProgram {
  readonly iface: string;
  readonly direction: PayloadDirection;
  readonly name: string;
  readonly version: string;
  /** The interface's IPv4 address from the payload (l3afd's `ipv4_address` label), '' when none. */
  readonly ipv4: string;
  /** Kernel program id of the entry program. */
  readonly progId: number;
  /** Directory where the program's maps are pinned (one file per map, named as in the object). */
  readonly mapPinDir: string;
  /** The payload's monitor_maps (name, key, aggregator). */
  readonly monitorMaps: readonly MonitorMap[];
  /** The payload's event_maps (l3af extension); absent or null = the program's default event sources. */
  readonly eventMaps?: readonly EventMap[] | null;
  /** The payload's map_args: what the agent wrote into the program's maps (its configuration). */
  readonly mapArgs?: readonly MapArg[];
  /** What the verifier and the JIT made of the entry program (absent when the chain did not say). */
  readonly figures?: ProgramFigures;
  /** With chain counting: its counting step's id, the pin of the step's counter and the pin of the program's next array. */
  readonly counting?: ProgramCounting;
}

/** Where the packets entering a chained program are counted (`[l3af] chain-counting`). */
export interface ProgramCounting {
  /** Kernel id of the counting step before the program (what its predecessor's slot holds). */
  readonly stepId: number;
  /** Pin of the step's per-CPU counter (u32 0 → u64). */
  readonly countPin: string;
  /** Pin of the program's own next array (its slot 0 holds the next program's step, or nothing at the end). */
  readonly nextPin: string;
}

/** The verifier's and the JIT's figures of a loaded program, and how long its object took to load. */
export interface ProgramFigures {
  /** Instructions the verifier processed (`bpf_prog_info.verified_insns`). */
  readonly verifiedInstructions: number;
  /** Size after the verifier's rewrites (`xlated_prog_len`), bytes. */
  readonly xlatedBytes: number;
  /** Size of the JIT image (`jited_prog_len`), bytes; 0 without a JIT. */
  readonly jitedBytes: number;
  /** Wall time of `bpf_object__load` of its object (verification included), ms; absent for a program adopted from pins. */
  readonly loadMs?: number;
}

/** Identity of a program that failed before (or while) it ran. */
export interface ProgramRef {
  readonly iface: string;
  readonly direction: PayloadDirection;
  readonly name: string;
  readonly version: string;
  readonly ipv4: string;
}

/** Told by the engine about program lifecycle (every callback optional). */
export interface EngineObserver {
  programStarted?(p: RunningProgram): void;
  programStopped?(p: RunningProgram): void;
  /** map_args, monitor_maps or a replacement took effect. */
  programUpdated?(p: RunningProgram): void;
  updateFailed?(p: ProgramRef, reason: string): void;
  deployFailed?(p: ProgramRef, reason: string): void;
  /**
   * Running state of a started program with a user program, as the engine's health check finds it
   * when it changes: false while its user program is down (restarting, or given up after its
   * restart budget), true when it runs again (kernel program present AND user program up).
   */
  programRunning?(p: ProgramRef, running: boolean): void;
}
