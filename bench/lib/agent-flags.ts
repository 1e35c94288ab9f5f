/**
 * The node flags the agent runs with wherever the project starts it: `npm start`, the systemd
 * unit, the Dockerfile, the self-contained agent artifact's launcher and the Windows service (test/deploy/agent-flags.test.ts
 * keeps them equal). A small young generation and V8's memory-saving mode keep the idle agent small
 * (bench/reports/idle-rss.md); `npm run bench` runs every benchmark under the same flags, so the
 * speed figures are those of the agent as it runs.
 */
export const AGENT_NODE_FLAGS = ['--max-semi-space-size=1', '--optimize-for-size'] as const;
