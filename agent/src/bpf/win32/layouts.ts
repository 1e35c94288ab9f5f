/**
 * The Windows struct layouts the agent uses, as sizes and offsets: koffi's own computation for
 * the structs declared with koffi (Job Objects, EVENT_TRACE_LOGFILEW) and the offset tables for
 * the buffers read and written by hand (EVENT_RECORD, TRACE_EVENT_INFO, EVENT_PROPERTY_INFO,
 * EVENT_TRACE_PROPERTIES), and eBPF-for-Windows' info structs. test/windows/layout.test.ts compares them with a probe compiled
 * against mingw-w64's headers and run under Wine.
 */
import koffi from 'koffi';
import { EVENT_PROPERTY_INFO, EVENT_RECORD, TRACE_EVENT_INFO } from './etw-decoder.ts';
import { EVENT_TRACE_PROPERTIES, LOGFILE } from './etw.ts';
import { bpf_link_info_windows, bpf_map_info_windows, bpf_prog_info_windows } from '../ffi.ts';
import {
  JOBOBJECT_BASIC_ACCOUNTING_INFORMATION, JOBOBJECT_BASIC_LIMIT_INFORMATION, JOBOBJECT_CPU_RATE_CONTROL_INFORMATION,
  JOBOBJECT_EXTENDED_LIMIT_INFORMATION,
} from './kernel32.ts';

export type Layout = Record<string, number>;

function ofKoffi(type: ReturnType<typeof koffi.struct>, fields: string[], rename: Record<string, string> = {}): Layout {
  const out: Layout = { size: koffi.sizeof(type) };
  for (const f of fields) out[rename[f] ?? f] = koffi.offsetof(type, f);
  return out;
}

function table(t: Readonly<Record<string, number>>, fields: string[]): Layout {
  const out: Layout = { size: t.size as number };
  for (const f of fields) out[f] = t[f] as number;
  return out;
}

/** Every Windows layout of the agent by C type name. */
export function windowsLayouts(): Record<string, Layout> {
  return {
    EVENT_RECORD: table(EVENT_RECORD, ['Size', 'Flags', 'ThreadId', 'ProcessId', 'TimeStamp', 'ProviderId', 'Id', 'Version', 'Level', 'Opcode', 'Task', 'Keyword', 'ActivityId', 'ExtendedDataCount', 'UserDataLength', 'ExtendedData', 'UserData', 'UserContext']),
    TRACE_EVENT_INFO: table(TRACE_EVENT_INFO, ['DecodingSource', 'ProviderNameOffset', 'LevelNameOffset', 'TaskNameOffset', 'OpcodeNameOffset', 'EventNameOffset', 'PropertyCount', 'TopLevelPropertyCount', 'EventPropertyInfoArray']),
    EVENT_PROPERTY_INFO: table(EVENT_PROPERTY_INFO, ['Flags', 'NameOffset', 'InType', 'OutType', 'StructStartIndex', 'NumOfStructMembers', 'count', 'length']),
    EVENT_TRACE_PROPERTIES: table(EVENT_TRACE_PROPERTIES, ['BufferSize', 'ClientContext', 'Flags', 'LogFileMode', 'FlushTimer', 'EventsLost', 'RealTimeBuffersLost', 'LogFileNameOffset', 'LoggerNameOffset']),
    EVENT_TRACE_LOGFILEW: ofKoffi(LOGFILE, ['LoggerName', 'ProcessTraceMode', 'EventRecordCallback', 'IsKernelTrace', 'Context']),
    JOBOBJECT_BASIC_LIMIT_INFORMATION: ofKoffi(JOBOBJECT_BASIC_LIMIT_INFORMATION, ['PerProcessUserTimeLimit', 'LimitFlags', 'MinimumWorkingSetSize', 'ActiveProcessLimit', 'Affinity', 'PriorityClass', 'SchedulingClass']),
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION: ofKoffi(JOBOBJECT_EXTENDED_LIMIT_INFORMATION, ['IoInfo', 'ProcessMemoryLimit', 'JobMemoryLimit', 'PeakJobMemoryUsed']),
    JOBOBJECT_CPU_RATE_CONTROL_INFORMATION: ofKoffi(JOBOBJECT_CPU_RATE_CONTROL_INFORMATION, ['CpuRate']),
    ebpfwin_bpf_prog_info: ofKoffi(bpf_prog_info_windows, ['nr_map_ids', 'map_ids', 'name', 'type_uuid', 'attach_type_uuid', 'pinned_path_count', 'link_count']),
    ebpfwin_bpf_map_info: ofKoffi(bpf_map_info_windows, ['max_entries', 'name', 'map_flags', 'inner_map_id', 'pinned_path_count']),
    ebpfwin_bpf_link_info: ofKoffi(bpf_link_info_windows, ['type', 'attach_type_uuid', 'program_type_uuid', 'u0']),
    JOBOBJECT_BASIC_ACCOUNTING_INFORMATION: ofKoffi(JOBOBJECT_BASIC_ACCOUNTING_INFORMATION, ['TotalPageFaultCount', 'ActiveProcesses', 'TotalTerminatedProcesses']),
  };
}
