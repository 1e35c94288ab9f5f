/**
 * The user-program argument contract (L3AF's `cmd_*` convention), built as argv arrays — never a
 * shell string — so no value is ever interpreted by a shell.
 *
 * - cmd_start:  [--iface=] --direction= [--version=] [--map-name=] [--log-dir=] [--rules-file=] then
 *               --key=value per start_args entry (in the object's key order);
 * - cmd_stop:   --iface= --direction= then stop_args (`--key=value`; l3afd's `--key =value` space
 *               quirk is not reproduced);
 * - cmd_status: status_args only (as l3afd);
 * - cmd_update: --iface= --direction= --cmd=update --version= [--log-dir=] then update_args.
 *
 * Optional parts follow l3afd exactly: --iface and --version only when not empty, --log-dir only
 * when `[l3afd] bpf-log-dir` is longer than one character, --rules-file only when both rules_file
 * and rules are longer than one character. L3AF's C user programs reject any option they do not
 * know (getopt_long), so nothing beyond what l3afd passes is ever added.
 *
 * Commands must resolve (symlinks included) to an executable regular file inside the package
 * folder.
 */
import { accessSync, constants, mkdirSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';

/** The `--direction=` values of the contract. */
export type UserDirection = 'xdpingress' | 'ingress' | 'egress';

/** A payload list name → the contract's direction word (probes have none). */
export function userDirection(list: 'xdp_ingress' | 'tc_ingress' | 'tc_egress'): UserDirection {
  return list === 'xdp_ingress' ? 'xdpingress' : list === 'tc_ingress' ? 'ingress' : 'egress';
}

/** An argument map value as the schema allows it; anything else is refused with a clear error. */
export type ArgValue = string | number | boolean;
/** An argument map (`start_args`, `stop_args`, ...); null = none. */
export type ArgMap = Readonly<Record<string, unknown>> | null;

/** The program fields the contract reads (a NormalizedBpfProgram satisfies it). */
export interface UserProgramFields {
  readonly name: string;
  readonly version: string;
  readonly cmd_start: string;
  readonly cmd_stop: string;
  readonly cmd_status: string;
  readonly cmd_update: string;
  readonly user_program_daemon: boolean;
  readonly cpu: number;
  readonly memory: number;
  readonly rules_file: string;
  readonly rules: string;
  readonly object_file: string;
  readonly start_args: ArgMap;
  readonly stop_args: ArgMap;
  readonly status_args: ArgMap;
  readonly update_args: ArgMap;
}

/** Where and how one user program runs. */
export interface UserProgramContext {
  /** Interface ('' for programs without one). */
  readonly iface: string;
  readonly direction: UserDirection;
  /** The extracted package folder; every cmd_* must resolve inside it. */
  readonly packageDir: string;
  /** `[l3afd] bpf-log-dir`: passed as --log-dir only when longer than one character (as l3afd). */
  readonly logDir?: string;
  /**
   * Pin path of the previous program's next-program array. Passed as --map-name only when the
   * agent did not load the object itself (no object_file): the user program links itself.
   */
  readonly prevMapPin?: string;
}

/** A program whose arguments or commands break the contract. */
export class UserProgramArgsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserProgramArgsError';
  }
}

const KEY = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** The version as the contract passes it: dots → underscores. */
export function versionArg(version: string): string {
  return version.replace(/\./g, '_');
}

/** Renders one value; strings, finite numbers and booleans only. */
export function argValue(key: string, value: unknown, what = 'args'): string {
  if (typeof value === 'string') {
    if (value.includes('\0')) throw new UserProgramArgsError(`${what}.${key}: value contains a NUL byte`);
    return value;
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new UserProgramArgsError(`${what}.${key}: ${value} is not a finite number`);
    return String(value);
  }
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  const kind = value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
  throw new UserProgramArgsError(`${what}.${key}: value must be a string, number or boolean (got ${kind})`);
}

/** `--key=value` for each entry, in the object's key order; null/empty → []. */
export function renderArgs(args: ArgMap, what = 'args'): string[] {
  if (args === null) return [];
  if (typeof args !== 'object' || Array.isArray(args)) throw new UserProgramArgsError(`${what}: must be an object or null`);
  return Object.entries(args).map(([k, v]) => {
    if (!KEY.test(k)) throw new UserProgramArgsError(`${what}: key '${k}' is not a valid option name (letters, digits, '_', '.', '-'; not starting with '-')`);
    return `--${k}=${argValue(k, v, what)}`;
  });
}

/** Where the rules file goes: `<packageDir>/<direction>/<rules_file>` (refused if it escapes). */
export function rulesFilePath(ctx: UserProgramContext, p: Pick<UserProgramFields, 'rules_file'>): string {
  const base = resolve(ctx.packageDir, ctx.direction);
  const path = resolve(base, p.rules_file);
  if (isAbsolute(p.rules_file) || !path.startsWith(base + sep)) throw new UserProgramArgsError(`rules_file '${p.rules_file}' leaves the package's ${ctx.direction} folder`);
  return path;
}

/**
 * Whether the program passes --rules-file: as l3afd, when rules_file and rules are both longer
 * than one character. `rules` without `rules_file` has nowhere to go and is refused.
 */
function wantsRules(p: Pick<UserProgramFields, 'rules_file' | 'rules'>): boolean {
  if (p.rules !== '' && p.rules_file === '') throw new UserProgramArgsError('rules is set but rules_file is empty (the rules have nowhere to be written)');
  return p.rules_file.length > 1 && p.rules.length > 1;
}

/** `--log-dir=` when l3afd would pass it (bpf-log-dir longer than one character), else nothing. */
function logDirArg(ctx: UserProgramContext): string[] {
  return ctx.logDir !== undefined && ctx.logDir.length > 1 ? [`--log-dir=${ctx.logDir}`] : [];
}

/** Writes `rules` into the rules file (creating the direction folder); returns its path, or undefined. */
export function writeRulesFile(ctx: UserProgramContext, p: Pick<UserProgramFields, 'rules_file' | 'rules'>): string | undefined {
  if (!wantsRules(p)) return undefined;
  const path = rulesFilePath(ctx, p);
  mkdirSync(resolve(path, '..'), { recursive: true });
  writeFileSync(path, p.rules, { mode: 0o644 });
  return path;
}

/** cmd_start's arguments (without the command itself). */
export function startArgv(ctx: UserProgramContext, p: UserProgramFields): string[] {
  const argv: string[] = [];
  if (ctx.iface !== '') argv.push(`--iface=${ctx.iface}`);
  argv.push(`--direction=${ctx.direction}`);
  if (p.version !== '') argv.push(`--version=${versionArg(p.version)}`);
  if (ctx.prevMapPin !== undefined && ctx.prevMapPin.length > 1 && p.object_file === '') argv.push(`--map-name=${ctx.prevMapPin}`);
  argv.push(...logDirArg(ctx));
  if (wantsRules(p)) argv.push(`--rules-file=${rulesFilePath(ctx, p)}`);
  argv.push(...renderArgs(p.start_args, 'start_args'));
  return argv;
}

/** cmd_stop's arguments. */
export function stopArgv(ctx: UserProgramContext, p: Pick<UserProgramFields, 'stop_args'>): string[] {
  return [`--iface=${ctx.iface}`, `--direction=${ctx.direction}`, ...renderArgs(p.stop_args, 'stop_args')];
}

/** cmd_status's arguments (status_args only, as l3afd). */
export function statusArgv(p: Pick<UserProgramFields, 'status_args'>): string[] {
  return renderArgs(p.status_args, 'status_args');
}

/** cmd_update's arguments. */
export function updateArgv(ctx: UserProgramContext, p: Pick<UserProgramFields, 'version' | 'update_args'>): string[] {
  return [
    `--iface=${ctx.iface}`, `--direction=${ctx.direction}`, '--cmd=update', `--version=${versionArg(p.version)}`,
    ...logDirArg(ctx), ...renderArgs(p.update_args, 'update_args'),
  ];
}

/**
 * The absolute path of command `cmd` of the package: it must resolve (after symlinks) inside the
 * package folder and be an executable regular file.
 */
export function resolveCommand(packageDir: string, cmd: string, field = 'cmd_start'): string {
  if (cmd === '') throw new UserProgramArgsError(`${field} is empty`);
  if (cmd.includes('\0')) throw new UserProgramArgsError(`${field} contains a NUL byte`);
  let root: string;
  try {
    root = realpathSync(packageDir);
  } catch {
    throw new UserProgramArgsError(`package folder '${packageDir}' does not exist`);
  }
  const inside = (p: string): boolean => {
    const rel = relative(root, p);
    return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
  };
  const wanted = isAbsolute(cmd) ? resolve(cmd) : resolve(root, cmd);
  if (cmd.split(/[\\/]/).includes('..') || !inside(wanted)) throw new UserProgramArgsError(`${field} '${cmd}' leaves the package folder ${root}`);
  let real: string;
  try {
    real = realpathSync(wanted);
  } catch {
    throw new UserProgramArgsError(`${field} '${cmd}' does not exist in the package folder ${root}`);
  }
  if (!inside(real)) throw new UserProgramArgsError(`${field} '${cmd}' resolves to ${real}, outside the package folder ${root}`);
  if (!statSync(real).isFile()) throw new UserProgramArgsError(`${field} '${cmd}' is not a regular file`);
  try {
    accessSync(real, constants.X_OK);
  } catch {
    throw new UserProgramArgsError(`${field} '${cmd}' is not executable (chmod +x it in the package)`);
  }
  return join(real);
}
