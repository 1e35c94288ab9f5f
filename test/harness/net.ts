/** Loopback ports for agents and servers a test starts. */
import { createServer } from 'node:net';

/** A TCP port free on 127.0.0.1 now (the kernel's pick; a test binds it right after). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', resolve);
  });
  const addr = srv.address();
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  if (addr === null || typeof addr === 'string') throw new Error('no TCP port on 127.0.0.1');
  return addr.port;
}
