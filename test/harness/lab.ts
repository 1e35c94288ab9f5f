/**
 * What a kernel test of the engine, the API or the observability side starts from: the bundled packages, a veth
 * lab in its own network namespace, a private bpffs, a temp state dir and the embedded default config over them.
 * Disposed in reverse order (state dir, bpffs, lab).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig, type AgentConfig } from '../../agent/src/config/index.ts';
import { hostName } from '../../agent/src/platform/host.ts';
import { PrivateBpffs } from './bpffs.ts';
import { ROOT, ensurePackages } from './repo.ts';
import { VethLab } from './veth-lab.ts';

/** A temp state dir (config store, package cache) removed by dispose. */
export class StateDir {
  readonly path = mkdtempSync(join(tmpdir(), `l3af-engine-${process.pid}-`));
  [Symbol.dispose](): void {
    rmSync(this.path, { recursive: true, force: true });
  }
}

/** The embedded default config with pins under `pinRoot` and state (store, package cache) under `stateDir`. */
export function testConfig(pinRoot: string, stateDir: string): AgentConfig {
  const c = structuredClone(defaultConfig({ stateDir, projectRoot: ROOT }));
  c.l3afd.bpfMapDefaultPath = pinRoot;
  return c;
}

/** Packages, veth lab, private bpffs, state dir and config: `await using bed = await EngineLab.create()`. */
export class EngineLab implements AsyncDisposable {
  /** The lab's root-side interface (where programs attach). */
  readonly iface: string;
  readonly host = hostName();
  readonly config: AgentConfig;

  private constructor(readonly lab: VethLab, readonly fs: PrivateBpffs, readonly state: StateDir) {
    this.iface = lab.rootIfname;
    this.config = testConfig(fs.path, state.path);
  }

  static async create(): Promise<EngineLab> {
    ensurePackages();
    const lab = await VethLab.create();
    let fs: PrivateBpffs | undefined;
    try {
      fs = await PrivateBpffs.create();
      return new EngineLab(lab, fs, new StateDir());
    } catch (err) {
      await fs?.[Symbol.asyncDispose]();
      await lab[Symbol.asyncDispose]();
      throw err;
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.state[Symbol.dispose]();
    } finally {
      try {
        await this.fs[Symbol.asyncDispose]();
      } finally {
        await this.lab[Symbol.asyncDispose]();
      }
    }
  }
}
