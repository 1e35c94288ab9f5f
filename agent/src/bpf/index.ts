/**
 * The kernel layer: TypeScript over libbpf, in libbpf's vocabulary (object → program → map →
 * link). The only part of l3af that talks to the kernel's eBPF facilities; everything above
 * it uses these typed objects.
 */
export { BpfObject, programTypeForSection, type OpenOptions } from './object.ts';
export { BpfProgram, programInfoByFd, programIds, type ProgramInfo, type TestRunOptions, type TestRunResult } from './program.ts';
export { BpfMap, TypedMap, ProgArray, mapInfoByFd, possibleCpuCount, type MapInfo, type UpdateFlag } from './map.ts';
export { u8, u16, u32, i32, u64, i64, be16, bytes, uint, type Codec } from './codec.ts';
export {
  BpfLink, attachXdpLink, attachTracepoint, attachKprobe, attachUprobe, attachProbe, parseProbeSection,
  type LinkInfo, type UprobeTarget, type ProbeTarget,
} from './link.ts';
export { attachXdp, detachXdp, queryXdp, type XdpMode, type XdpAttachOptions, type XdpDetachOptions, type XdpState } from './xdp.ts';
export { attachTc, detachTc, queryTc, createClsact, destroyClsact, type TcDirection, type TcAttachOptions, type TcAttachment, type TcFilterId } from './tc.ts';
export { attachTcx, detachTcx, tcxProgId, tcxSupported, updateTcx, BPF_TCX_INGRESS, BPF_TCX_EGRESS, type TcxAttachOptions } from './tcx.ts';
export { RingBufferReader, LibbpfRingBufferReader, PerfBufferReader, recordAt, type ReaderOptions, type RecordBatch } from './ringbuf.ts';
export { Bpffs, Tracefs, pinObject, unpin, unpinTree, filesystemOf, type PinKind } from './pin.ts';
export { enableStats, statsEnabled, statsHolders, type StatsHolder } from './stats.ts';
export { ifindex, ifname } from './netif.ts';
export { BpfError, errnoName } from './errors.ts';
export { setLibbpfLogger, resetLibbpfLogger, type LibbpfLevel, type LibbpfSink } from './log.ts';
export {
  platform, programTypeName, programTypeValue, mapTypeName, xdpActionName, xdpActionValue,
  type PlatformSpec, type ProgramType, type MapType, type XdpAction,
} from './platform.ts';
export { libbpfVersion } from './version.ts';
export { libbpfUnavailable } from './ffi.ts';
export { structLayouts, type StructLayout } from './layout.ts';
export { WindowsRingBufferReader, ebpfRingFfi, drainRing, type RingFfi, type RingMemory } from './win32/ring-wait.ts';
export { trimNativeHeap } from './native-heap.ts';
