/** Probe programs (kprobe, kretprobe, tracepoint, uprobe, uretprobe): targets and the probe manager. */
export * from './probe-target.ts';
export * from './probe-manager.ts';
