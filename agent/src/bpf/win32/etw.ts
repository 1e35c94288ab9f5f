/**
 * A real-time ETW consumer through koffi (advapi32 and tdh): StartTraceW creates a real-time
 * session, EnableTraceEx2 enables each provider, OpenTraceW opens it for an EventRecordCallback,
 * ProcessTrace runs on a libuv worker thread (koffi's async call; the callback is marshalled to the
 * JS thread), ControlTraceW stops the session. Each event is copied out (EVENT_RECORD, UserData)
 * with the TRACE_EVENT_INFO tdh gives for it, and handed over as Buffers for bpf/win32/etw-decoder.ts.
 * Layouts: x64, checked against mingw-w64's headers by test/windows/layout.test.ts.
 *
 * A system whose ETW cannot deliver (Wine: OpenTraceW returns INVALID_PROCESSTRACE_HANDLE,
 * ProcessTrace returns ERROR_CALL_NOT_IMPLEMENTED) fails with {@link EtwError} naming the call.
 */
import koffi from 'koffi';
import { guidBytes, EVENT_RECORD } from './etw-decoder.ts';

type Fn = ReturnType<ReturnType<typeof koffi.load>['func']>;

/** EVENT_TRACE_LOGFILEW with the fields the consumer sets; the rest (CurrentEvent, LogfileHeader, …) as bytes. */
export const LOGFILE = koffi.struct('EVENT_TRACE_LOGFILEW_l3af', {
  LogFileName: 'void *', LoggerName: 'const char16_t *', CurrentTime: 'int64_t', BuffersRead: 'uint32_t', ProcessTraceMode: 'uint32_t',
  middle: koffi.array('uint8_t', 424 - 32), EventRecordCallback: 'void *', IsKernelTrace: 'uint32_t', Context: 'void *',
});

/** EVENT_TRACE_PROPERTIES: WNODE_HEADER (48) and the session settings; 120 bytes. */
export const EVENT_TRACE_PROPERTIES = {
  size: 120, BufferSize: 0, Guid: 24, ClientContext: 40, Flags: 44, LogFileMode: 64, FlushTimer: 68, EventsLost: 88,
  RealTimeBuffersLost: 100, LogFileNameOffset: 112, LoggerNameOffset: 116,
} as const;
/** EVENT_TRACE_LOGFILEW offsets used here; 448 bytes. */
export const EVENT_TRACE_LOGFILEW = { size: 448, LogFileName: 0, LoggerName: 8, ProcessTraceMode: 28, EventRecordCallback: 424, IsKernelTrace: 432, Context: 440 } as const;

const WNODE_FLAG_TRACED_GUID = 0x20000;
const EVENT_TRACE_REAL_TIME_MODE = 0x100;
const PROCESS_TRACE_MODE_REAL_TIME = 0x100;
const PROCESS_TRACE_MODE_EVENT_RECORD = 0x10000000;
const EVENT_TRACE_CONTROL_STOP = 1;
const EVENT_CONTROL_CODE_ENABLE_PROVIDER = 1;
const INVALID_PROCESSTRACE_HANDLE = 0xffffffffffffffffn;
const ERROR_SUCCESS = 0;
const ERROR_ALREADY_EXISTS = 183;
const ERROR_INSUFFICIENT_BUFFER = 122;
const ERROR_CANCELLED = 1223;
const WIN32_NAMES: Record<number, string> = {
  5: 'ERROR_ACCESS_DENIED', 87: 'ERROR_INVALID_PARAMETER', 120: 'ERROR_CALL_NOT_IMPLEMENTED', 161: 'ERROR_BAD_PATHNAME',
  183: 'ERROR_ALREADY_EXISTS', 1168: 'ERROR_NOT_FOUND', 4201: 'ERROR_WMI_INSTANCE_NOT_FOUND', 1450: 'ERROR_NO_SYSTEM_RESOURCES',
};

/** An ETW call that failed, by name and Win32 status. */
export class EtwError extends Error {
  readonly call: string;
  readonly status: number;
  constructor(call: string, status: number, detail = '') {
    super(`${call} failed: ${WIN32_NAMES[status] ?? 'Win32 error'} (${status})${detail ? `: ${detail}` : ''}`);
    this.name = 'EtwError';
    this.call = call;
    this.status = status;
  }
}

/** A provider to enable: its GUID, level (1 critical … 5 verbose) and keyword mask. */
export interface EtwProvider {
  readonly guid: string;
  readonly level?: number;
  readonly matchAnyKeyword?: bigint;
}

/** What the consumer hands over for each event. */
export interface EtwRawEvent {
  readonly record: Buffer;
  readonly userData: Buffer;
  /** TRACE_EVENT_INFO from TdhGetEventInformation; null when tdh has no schema for the event. */
  readonly info: Buffer | null;
}

interface Api {
  StartTraceW: Fn; ControlTraceW: Fn; EnableTraceEx2: Fn; OpenTraceW: Fn; ProcessTrace: Fn; CloseTrace: Fn;
  TdhGetEventInformation: Fn; GetLastError: Fn; callbackProto: ReturnType<typeof koffi.proto>;
}
let api: Api | null = null;

function load(): Api {
  if (api) return api;
  if (process.platform !== 'win32') throw new Error('ETW exists only on Windows');
  const adv = koffi.load('advapi32.dll');
  const tdh = koffi.load('tdh.dll');
  const k32 = koffi.load('kernel32.dll');
  const callbackProto = koffi.proto('void __stdcall EtwEventRecordCallback(void *record)');
  api = {
    StartTraceW: adv.func('uint32_t __stdcall StartTraceW(_Out_ uint64_t *handle, const char16_t *name, void *props)'),
    ControlTraceW: adv.func('uint32_t __stdcall ControlTraceW(uint64_t handle, const char16_t *name, void *props, uint32_t code)'),
    EnableTraceEx2: adv.func('uint32_t __stdcall EnableTraceEx2(uint64_t handle, void *guid, uint32_t code, uint8_t level, uint64_t any, uint64_t all, uint32_t timeout, void *params)'),
    OpenTraceW: adv.func('__stdcall', 'OpenTraceW', 'uint64_t', [koffi.inout(koffi.pointer(LOGFILE))]),
    ProcessTrace: adv.func('uint32_t __stdcall ProcessTrace(uint64_t *handles, uint32_t count, void *start, void *end)'),
    CloseTrace: adv.func('uint32_t __stdcall CloseTrace(uint64_t handle)'),
    TdhGetEventInformation: tdh.func('uint32_t __stdcall TdhGetEventInformation(void *event, uint32_t n, void *ctx, void *info, _Inout_ uint32_t *size)'),
    GetLastError: k32.func('uint32_t __stdcall GetLastError()'),
    callbackProto,
  };
  return api;
}

/** EVENT_TRACE_PROPERTIES followed by room for the logger name (as ControlTraceW/StartTraceW want it). */
function properties(name: string): Buffer {
  const P = EVENT_TRACE_PROPERTIES;
  const b = Buffer.alloc(P.size + (name.length + 1) * 2 + 1024);
  b.writeUInt32LE(b.length, P.BufferSize);
  b.writeUInt32LE(1, P.ClientContext); // QPC time stamps
  b.writeUInt32LE(WNODE_FLAG_TRACED_GUID, P.Flags);
  b.writeUInt32LE(EVENT_TRACE_REAL_TIME_MODE, P.LogFileMode);
  b.writeUInt32LE(1, P.FlushTimer);
  b.writeUInt32LE(P.size, P.LoggerNameOffset);
  return b;
}

/** Counters of a session. */
export interface EtwCounters {
  delivered: number;
  /** Events the session lost (EventsLost + RealTimeBuffersLost at stop), and events that could not be copied. */
  lost: number;
}

/**
 * A real-time session. `start` resolves once the session is open and ProcessTrace runs; `done`
 * settles when ProcessTrace returns (rejects with the failing call when it could not run).
 */
export class EtwSession {
  readonly name: string;
  readonly counters: EtwCounters = { delivered: 0, lost: 0 };
  #handle = 0n;
  #trace = INVALID_PROCESSTRACE_HANDLE;
  #callback: unknown = null;
  #stopped = false;
  done: Promise<void> = Promise.resolve();

  private constructor(name: string) {
    this.name = name;
  }

  /** Starts session `name` with `providers`; every event goes to `onEvent`. */
  static start(name: string, providers: readonly EtwProvider[], onEvent: (e: EtwRawEvent) => void): EtwSession {
    const a = load();
    const s = new EtwSession(name);
    // a session of the same name left by a previous agent is stopped first
    a.ControlTraceW(0n, name, properties(name), EVENT_TRACE_CONTROL_STOP);
    const handle = [0n];
    let st = a.StartTraceW(handle, name, properties(name)) as number;
    if (st === ERROR_ALREADY_EXISTS) st = a.StartTraceW(handle, name, properties(name)) as number;
    if (st !== ERROR_SUCCESS) throw new EtwError('StartTraceW', st, `session '${name}'`);
    s.#handle = BigInt(handle[0] as bigint);
    try {
      for (const p of providers) {
        const r = a.EnableTraceEx2(s.#handle, guidBytes(p.guid), EVENT_CONTROL_CODE_ENABLE_PROVIDER, p.level ?? 4, p.matchAnyKeyword ?? 0xffffffffffffffffn, 0n, 0, null) as number;
        if (r !== ERROR_SUCCESS) throw new EtwError('EnableTraceEx2', r, `provider ${p.guid}`);
      }
      s.#callback = koffi.register((ptr: unknown) => s.#onRecord(ptr, onEvent), koffi.pointer(a.callbackProto));
      const logfile = {
        LogFileName: null, LoggerName: name, CurrentTime: 0n, BuffersRead: 0,
        ProcessTraceMode: PROCESS_TRACE_MODE_REAL_TIME | PROCESS_TRACE_MODE_EVENT_RECORD,
        middle: new Uint8Array(EVENT_TRACE_LOGFILEW.EventRecordCallback - 32), EventRecordCallback: s.#callback, IsKernelTrace: 0, Context: null,
      };
      const trace = BigInt(a.OpenTraceW(logfile) as bigint | number);
      if (trace === INVALID_PROCESSTRACE_HANDLE) {
        throw new EtwError('OpenTraceW', a.GetLastError() as number, 'returned INVALID_PROCESSTRACE_HANDLE: this system cannot consume a real-time session');
      }
      s.#trace = trace;
      s.done = new Promise<void>((resolve, reject) => {
        a.ProcessTrace.async([trace], 1, null, null, (err: unknown, status: number) => {
          if (err) reject(err as Error);
          else if (status === ERROR_SUCCESS || status === ERROR_CANCELLED || s.#stopped) resolve();
          else reject(new EtwError('ProcessTrace', status));
        });
      });
      s.done.catch(() => s.stop());
      return s;
    } catch (err) {
      s.stop();
      throw err;
    }
  }

  #onRecord(ptr: unknown, onEvent: (e: EtwRawEvent) => void): void {
    const a = load();
    try {
      const record = Buffer.from(koffi.view(ptr as bigint, EVENT_RECORD.size)).subarray(0, EVENT_RECORD.size);
      const rec = Buffer.from(record);
      const len = rec.readUInt16LE(EVENT_RECORD.UserDataLength);
      const udPtr = rec.readBigUInt64LE(EVENT_RECORD.UserData);
      const userData = len > 0 && udPtr !== 0n ? Buffer.from(Buffer.from(koffi.view(udPtr, len))) : Buffer.alloc(0);
      const size = [0];
      let info: Buffer | null = null;
      if ((a.TdhGetEventInformation(ptr, 0, null, null, size) as number) === ERROR_INSUFFICIENT_BUFFER) {
        info = Buffer.alloc(size[0] as number);
        if ((a.TdhGetEventInformation(ptr, 0, null, info, size) as number) !== ERROR_SUCCESS) info = null;
      }
      this.counters.delivered++;
      onEvent({ record: rec, userData, info });
    } catch {
      this.counters.lost++;
    }
  }

  /** Stops the session (ControlTraceW) and closes the consumer; ProcessTrace then returns. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    const a = load();
    if (this.#handle !== 0n) {
      const props = properties(this.name);
      if ((a.ControlTraceW(this.#handle, null, props, EVENT_TRACE_CONTROL_STOP) as number) === ERROR_SUCCESS) {
        this.counters.lost += props.readUInt32LE(EVENT_TRACE_PROPERTIES.EventsLost) + props.readUInt32LE(EVENT_TRACE_PROPERTIES.RealTimeBuffersLost);
      }
    }
    if (this.#trace !== INVALID_PROCESSTRACE_HANDLE) a.CloseTrace(this.#trace);
    const cb = this.#callback;
    this.#callback = null;
    // the callback stays registered until ProcessTrace has returned
    if (cb !== null) void this.done.finally(() => koffi.unregister(cb as bigint)).catch(() => undefined);
  }
}
