/**
 * The node flags the agent runs with wherever the project starts it: `npm start`, the systemd
 * unit, the Dockerfile, the self-contained agent artifact's launcher and the Windows service (test/deploy/agent-flags.test.ts
 * keeps them equal). A small young generation keeps the idle agent small (bench/reports/idle-rss.md);
 * `npm run bench` runs every benchmark under the same flags, so the speed figures are those of the
 * agent as it runs (the event stream reads the ring in rounds small enough for that young generation:
 * bpf/ringbuf.ts). `--optimize-for-size` was tried too: it cost a fifth of the events' decoding rate;
 * the memory it saved (bytecode of code that ran once) the memory settler frees instead
 * (agent/src/app/memory-settler.ts).
 */
export const AGENT_NODE_FLAGS = ['--max-semi-space-size=1'] as const;
