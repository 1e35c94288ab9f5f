/**
 * tracefs for tracepoint tests. It is not mounted on a fresh machine here; mounting it is harmless and shared,
 * so it is mounted once and left mounted.
 */
import { access, statfs } from 'node:fs/promises';
import { run } from './exec.ts';
import { mountsAt } from './system.ts';

/** Where tracefs belongs. */
export const TRACEFS_PATH = '/sys/kernel/tracing';
/** statfs f_type of tracefs (TRACEFS_MAGIC in linux/magic.h). */
export const TRACEFS_MAGIC = 0x74726163;

let pending: Promise<string> | undefined;

async function mountTracefs(): Promise<string> {
  if (!mountsAt(TRACEFS_PATH).some((m) => m.fstype === 'tracefs')) {
    await run('mount', ['-t', 'tracefs', 'nodev', TRACEFS_PATH]);
  }
  const st = await statfs(TRACEFS_PATH);
  if (st.type !== TRACEFS_MAGIC) {
    throw new Error(`${TRACEFS_PATH} is not a tracefs (statfs type 0x${st.type.toString(16)})`);
  }
  await access(`${TRACEFS_PATH}/events`);
  return TRACEFS_PATH;
}

/**
 * Makes sure tracefs is mounted at {@link TRACEFS_PATH} (mounting it if needed) and resolves with that path.
 * The mount is left in place. Concurrent calls in one process share one attempt; a failure is not cached.
 */
export function ensureTracefs(): Promise<string> {
  pending ??= mountTracefs().catch((err: unknown) => {
    pending = undefined;
    throw err;
  });
  return pending;
}
