/** The shared test harness for kernel tests: skip reasons, private bpffs, tracefs, veth labs, traffic. */
export * from './exec.ts';
export * from './cleanup.ts';
export * from './system.ts';
export * from './features.ts';
export * from './bpffs.ts';
export * from './tracefs.ts';
export * from './veth-lab.ts';
export * from './traffic.ts';
export * from './net.ts';
export * from './agent-process.ts';
export * from './pki.ts';
export * from './repo.ts';
export * from './lab.ts';
