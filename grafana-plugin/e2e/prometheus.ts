/**
 * A real Prometheus (Debian's `prometheus`) for the Ratelimiting page: scrapes the agent's metrics endpoint every
 * second, storage in the lab's temp dir, listening on 127.0.0.1:<free port>.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './agent';

export class Prometheus {
  readonly log: string[] = [];
  private constructor(
    readonly child: ChildProcess,
    readonly url: string
  ) {}

  /**
   * Starts Prometheus scraping `target` (host:port; or static configs: targets with their labels) in job
   * `l3af-agent` every `interval`, and waits until it is ready.
   */
  static async start(
    dir: string,
    target: string | Array<{ targets: string[]; labels?: Record<string, string> }>,
    binary = process.env.PROMETHEUS_PATH ?? '/usr/bin/prometheus',
    interval = '1s'
  ): Promise<Prometheus> {
    mkdirSync(join(dir, 'prom-data'), { recursive: true });
    const config = join(dir, 'prometheus.yml');
    // YAML is a superset of JSON
    writeFileSync(
      config,
      JSON.stringify({
        global: { scrape_interval: interval, evaluation_interval: interval },
        scrape_configs: [
          {
            job_name: 'l3af-agent',
            static_configs: typeof target === 'string' ? [{ targets: [target] }] : target,
          },
        ],
      })
    );
    const port = await freePort();
    const child = spawn(
      binary,
      [
        `--config.file=${config}`,
        `--storage.tsdb.path=${join(dir, 'prom-data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      }
    );
    const p = new Prometheus(child, `http://127.0.0.1:${port}`);
    const onData = (d: Buffer) => p.log.push(...d.toString('utf8').split('\n').filter(Boolean));
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null) {
        throw new Error(`prometheus exited (${child.exitCode}):\n${p.log.slice(-10).join('\n')}`);
      }
      const ok = await fetch(`${p.url}/-/ready`)
        .then((r) => r.ok)
        .catch(() => false);
      if (ok) {
        return p;
      }
      if (Date.now() > deadline) {
        throw new Error(`prometheus not ready within 30 s:\n${p.log.slice(-10).join('\n')}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** Instant query; the result vector. */
  async query(expr: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> {
    const r = await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await r.json()) as {
      status: string;
      data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> };
      error?: string;
    };
    if (body.status !== 'success') {
      throw new Error(`prometheus: ${body.error}`);
    }
    return body.data.result;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((r) => this.child.once('exit', r));
      this.child.kill('SIGTERM');
      await exited;
    }
  }
}
