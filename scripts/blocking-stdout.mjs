// Preloaded into every test file's process by scripts/run-tests.mjs: a child reports its results to the runner
// over stdout, a pipe whose writes are asynchronous on Linux, and --test-force-exit exits once the last test is
// done, so under load the tail of a file's report could be cut off (its tests then missing from the count, a
// failure's name lost: nodejs/node#64833). Blocking writes make every report frame land before the exit.
const handle = /** @type {{ setBlocking?: (b: boolean) => void } | undefined} */ (/** @type {any} */ (process.stdout)._handle);
handle?.setBlocking?.(true);
