/**
 * kernel32 through koffi: Job Objects (user-program supervision on Windows) and process creation
 * times (process identity). Loaded only on Windows; on Linux the functions that need it throw.
 * Layouts follow winnt.h for x64 and are checked against mingw-w64's headers by
 * test/windows/layout.test.ts (a compiled probe run under Wine).
 */
import koffi from 'koffi';

type Lib = ReturnType<typeof koffi.load>;
type Fn = ReturnType<Lib['func']>;

export const JOBOBJECT_BASIC_LIMIT_INFORMATION = koffi.struct('JOBOBJECT_BASIC_LIMIT_INFORMATION', {
  PerProcessUserTimeLimit: 'int64_t', PerJobUserTimeLimit: 'int64_t', LimitFlags: 'uint32_t',
  MinimumWorkingSetSize: 'uint64_t', MaximumWorkingSetSize: 'uint64_t', ActiveProcessLimit: 'uint32_t',
  Affinity: 'uint64_t', PriorityClass: 'uint32_t', SchedulingClass: 'uint32_t',
});
export const IO_COUNTERS = koffi.struct('IO_COUNTERS', {
  ReadOperationCount: 'uint64_t', WriteOperationCount: 'uint64_t', OtherOperationCount: 'uint64_t',
  ReadTransferCount: 'uint64_t', WriteTransferCount: 'uint64_t', OtherTransferCount: 'uint64_t',
});
export const JOBOBJECT_EXTENDED_LIMIT_INFORMATION = koffi.struct('JOBOBJECT_EXTENDED_LIMIT_INFORMATION', {
  BasicLimitInformation: JOBOBJECT_BASIC_LIMIT_INFORMATION, IoInfo: IO_COUNTERS,
  ProcessMemoryLimit: 'uint64_t', JobMemoryLimit: 'uint64_t', PeakProcessMemoryUsed: 'uint64_t', PeakJobMemoryUsed: 'uint64_t',
});
export const JOBOBJECT_CPU_RATE_CONTROL_INFORMATION = koffi.struct('JOBOBJECT_CPU_RATE_CONTROL_INFORMATION', {
  ControlFlags: 'uint32_t', CpuRate: 'uint32_t',
});
export const JOBOBJECT_BASIC_ACCOUNTING_INFORMATION = koffi.struct('JOBOBJECT_BASIC_ACCOUNTING_INFORMATION', {
  TotalUserTime: 'int64_t', TotalKernelTime: 'int64_t', ThisPeriodTotalUserTime: 'int64_t', ThisPeriodTotalKernelTime: 'int64_t',
  TotalPageFaultCount: 'uint32_t', TotalProcesses: 'uint32_t', ActiveProcesses: 'uint32_t', TotalTerminatedProcesses: 'uint32_t',
});

/** JOBOBJECTINFOCLASS values and flags (winnt.h). */
export const JobInfoClass = { BasicAccounting: 1, ExtendedLimit: 9, CpuRateControl: 15 } as const;
export const JobLimit = { PROCESS_TIME: 0x2, PROCESS_MEMORY: 0x100, JOB_MEMORY: 0x200, DIE_ON_UNHANDLED_EXCEPTION: 0x400, KILL_ON_JOB_CLOSE: 0x2000 } as const;
export const CpuRateFlag = { ENABLE: 0x1, HARD_CAP: 0x4 } as const;
const PROCESS_TERMINATE = 0x1;
const PROCESS_SET_QUOTA = 0x100;
const PROCESS_QUERY_LIMITED_INFORMATION = 0x1000;

/** A Win32 call that failed: the function's name and GetLastError. */
export class Win32Error extends Error {
  readonly call: string;
  readonly code: number;
  constructor(call: string, code: number) {
    super(`${call} failed (Win32 error ${code})`);
    this.name = 'Win32Error';
    this.call = call;
    this.code = code;
  }
}

interface Kernel32 {
  CreateJobObjectW: Fn; SetInformationJobObject: Fn; QueryInformationJobObject: Fn; AssignProcessToJobObject: Fn;
  TerminateJobObject: Fn; OpenProcess: Fn; CloseHandle: Fn; GetProcessTimes: Fn; GetLastError: Fn;
}
let k32: Kernel32 | null = null;

function kernel32(): Kernel32 {
  if (k32) return k32;
  if (process.platform !== 'win32') throw new Error('kernel32.dll exists only on Windows');
  const lib = koffi.load('kernel32.dll');
  k32 = {
    CreateJobObjectW: lib.func('void *__stdcall CreateJobObjectW(void *attrs, const char16_t *name)'),
    SetInformationJobObject: lib.func('int __stdcall SetInformationJobObject(void *job, int cls, void *info, uint32_t len)'),
    QueryInformationJobObject: lib.func('int __stdcall QueryInformationJobObject(void *job, int cls, _Out_ void *info, uint32_t len, _Out_ uint32_t *ret)'),
    AssignProcessToJobObject: lib.func('int __stdcall AssignProcessToJobObject(void *job, void *process)'),
    TerminateJobObject: lib.func('int __stdcall TerminateJobObject(void *job, uint32_t code)'),
    OpenProcess: lib.func('void *__stdcall OpenProcess(uint32_t access, int inherit, uint32_t pid)'),
    CloseHandle: lib.func('int __stdcall CloseHandle(void *h)'),
    GetProcessTimes: lib.func('int __stdcall GetProcessTimes(void *p, _Out_ uint64_t *creation, _Out_ uint64_t *exit, _Out_ uint64_t *kernel, _Out_ uint64_t *user)'),
    GetLastError: lib.func('uint32_t __stdcall GetLastError()'),
  };
  return k32;
}

function check(call: string, ok: unknown): void {
  if (!ok) throw new Win32Error(call, kernel32().GetLastError() as number);
}

/**
 * The creation time of process `pid` as FILETIME (100 ns since 1601) in decimal, or undefined
 * when there is no such process. With the pid it names one process (pids are reused).
 */
export function processCreationTime(pid: number): string | undefined {
  const k = kernel32();
  const h = k.OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid);
  if (!h) return undefined;
  try {
    const creation = [0n]; const exit = [0n]; const kt = [0n]; const ut = [0n];
    if (!k.GetProcessTimes(h, creation, exit, kt, ut)) return undefined;
    // an exited process whose handle someone still holds has an exit time: it is not running
    if (BigInt(exit[0] as bigint) !== 0n) return undefined;
    return String(creation[0]);
  } finally {
    k.CloseHandle(h);
  }
}

/** Limits of a job (0 = none). */
export interface JobLimits {
  /** ProcessMemoryLimit in bytes. */
  readonly processMemory?: number;
  /** CPU rate as a hard cap in 1/100 % of all processors (CpuRate; 10000 = all). */
  readonly cpuRate?: number;
  /** PerProcessUserTimeLimit in seconds (l3afd's RLIMIT_CPU meaning). */
  readonly userTimeSeconds?: number;
}

/** What QueryInformationJobObject reports. */
export interface JobReadback {
  readonly limitFlags: number;
  readonly killOnClose: boolean;
  readonly processMemoryLimit: number;
  readonly perProcessUserTimeLimit100ns: string;
  /** null when the system does not answer for CPU rate control. */
  readonly cpuRate: { readonly controlFlags: number; readonly cpuRate: number } | null;
  readonly cpuRateError: string | null;
  readonly activeProcesses: number;
  readonly totalProcesses: number;
}

/** A Job Object: processes assigned to it are killed when it is closed or terminated. */
export class JobObject {
  #handle: unknown;
  readonly cpuRateError: string | null;

  /** Creates an anonymous job with kill-on-close and `limits`. */
  constructor(limits: JobLimits = {}) {
    const k = kernel32();
    const h = k.CreateJobObjectW(null, null);
    check('CreateJobObjectW', h);
    this.#handle = h;
    try {
      let flags = JobLimit.KILL_ON_JOB_CLOSE | JobLimit.DIE_ON_UNHANDLED_EXCEPTION;
      if (limits.processMemory) flags |= JobLimit.PROCESS_MEMORY;
      if (limits.userTimeSeconds) flags |= JobLimit.PROCESS_TIME;
      const info = {
        BasicLimitInformation: {
          PerProcessUserTimeLimit: BigInt(limits.userTimeSeconds ?? 0) * 10_000_000n, PerJobUserTimeLimit: 0n, LimitFlags: flags,
          MinimumWorkingSetSize: 0n, MaximumWorkingSetSize: 0n, ActiveProcessLimit: 0, Affinity: 0n, PriorityClass: 0, SchedulingClass: 0,
        },
        IoInfo: { ReadOperationCount: 0n, WriteOperationCount: 0n, OtherOperationCount: 0n, ReadTransferCount: 0n, WriteTransferCount: 0n, OtherTransferCount: 0n },
        ProcessMemoryLimit: BigInt(limits.processMemory ?? 0), JobMemoryLimit: 0n, PeakProcessMemoryUsed: 0n, PeakJobMemoryUsed: 0n,
      };
      const buf = Buffer.alloc(koffi.sizeof(JOBOBJECT_EXTENDED_LIMIT_INFORMATION));
      koffi.encode(buf, JOBOBJECT_EXTENDED_LIMIT_INFORMATION, info);
      check('SetInformationJobObject(JobObjectExtendedLimitInformation)', k.SetInformationJobObject(h, JobInfoClass.ExtendedLimit, buf, buf.length));
      let cpuErr: string | null = null;
      if (limits.cpuRate) {
        const rate = Buffer.alloc(koffi.sizeof(JOBOBJECT_CPU_RATE_CONTROL_INFORMATION));
        koffi.encode(rate, JOBOBJECT_CPU_RATE_CONTROL_INFORMATION, { ControlFlags: CpuRateFlag.ENABLE | CpuRateFlag.HARD_CAP, CpuRate: limits.cpuRate });
        if (!k.SetInformationJobObject(h, JobInfoClass.CpuRateControl, rate, rate.length)) {
          cpuErr = new Win32Error('SetInformationJobObject(JobObjectCpuRateControlInformation)', k.GetLastError() as number).message;
        }
      }
      this.cpuRateError = cpuErr;
    } catch (err) {
      this.close();
      throw err;
    }
  }

  /** Puts process `pid` into the job. */
  assign(pid: number): void {
    const k = kernel32();
    const p = k.OpenProcess(PROCESS_SET_QUOTA | PROCESS_TERMINATE, 0, pid);
    check(`OpenProcess(${pid})`, p);
    try {
      check('AssignProcessToJobObject', k.AssignProcessToJobObject(this.#handle, p));
    } finally {
      k.CloseHandle(p);
    }
  }

  /** Ends every process of the job with `exitCode`. */
  terminate(exitCode = 1): boolean {
    if (this.#handle === null) return false;
    return Boolean(kernel32().TerminateJobObject(this.#handle, exitCode));
  }

  /** The limits and accounting as Windows reports them. */
  read(): JobReadback {
    const k = kernel32();
    const ret = [0];
    const ext = Buffer.alloc(koffi.sizeof(JOBOBJECT_EXTENDED_LIMIT_INFORMATION));
    check('QueryInformationJobObject(JobObjectExtendedLimitInformation)', k.QueryInformationJobObject(this.#handle, JobInfoClass.ExtendedLimit, ext, ext.length, ret));
    const e = koffi.decode(ext, JOBOBJECT_EXTENDED_LIMIT_INFORMATION) as {
      BasicLimitInformation: { LimitFlags: number; PerProcessUserTimeLimit: bigint | number }; ProcessMemoryLimit: bigint | number;
    };
    const acc = Buffer.alloc(koffi.sizeof(JOBOBJECT_BASIC_ACCOUNTING_INFORMATION));
    check('QueryInformationJobObject(JobObjectBasicAccountingInformation)', k.QueryInformationJobObject(this.#handle, JobInfoClass.BasicAccounting, acc, acc.length, ret));
    const a = koffi.decode(acc, JOBOBJECT_BASIC_ACCOUNTING_INFORMATION) as { ActiveProcesses: number; TotalProcesses: number };
    const rate = Buffer.alloc(koffi.sizeof(JOBOBJECT_CPU_RATE_CONTROL_INFORMATION));
    let cpuRate: JobReadback['cpuRate'] = null;
    let cpuRateError: string | null = null;
    if (k.QueryInformationJobObject(this.#handle, JobInfoClass.CpuRateControl, rate, rate.length, ret)) {
      const r = koffi.decode(rate, JOBOBJECT_CPU_RATE_CONTROL_INFORMATION) as { ControlFlags: number; CpuRate: number };
      cpuRate = { controlFlags: r.ControlFlags, cpuRate: r.CpuRate };
    } else {
      cpuRateError = new Win32Error('QueryInformationJobObject(JobObjectCpuRateControlInformation)', k.GetLastError() as number).message;
    }
    const flags = e.BasicLimitInformation.LimitFlags;
    return {
      limitFlags: flags, killOnClose: (flags & JobLimit.KILL_ON_JOB_CLOSE) !== 0, processMemoryLimit: Number(e.ProcessMemoryLimit),
      perProcessUserTimeLimit100ns: String(e.BasicLimitInformation.PerProcessUserTimeLimit),
      cpuRate, cpuRateError: cpuRateError ?? this.cpuRateError, activeProcesses: a.ActiveProcesses, totalProcesses: a.TotalProcesses,
    };
  }

  /** Closes the job handle: with kill-on-close, its processes end. */
  close(): void {
    if (this.#handle === null) return;
    kernel32().CloseHandle(this.#handle);
    this.#handle = null;
  }
}
