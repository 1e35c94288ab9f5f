// The user-program argument contract: argv tables for cmd_start / cmd_stop / cmd_status / cmd_update,
// value rendering, rules file placement, and command paths that must stay inside the package folder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  UserProgramArgsError, argValue, renderArgs, resolveCommand, startArgv, statusArgv, stopArgv, updateArgv,
  userDirection, versionArg, writeRulesFile, type UserProgramContext,
} from '../../agent/src/supervisor/index.ts';
import { program, workdir } from './helpers.ts';

const ctx: UserProgramContext = { iface: 'eth0', direction: 'xdpingress', packageDir: '/pkg/ratelimiting', logDir: '/var/log/l3af' };

test('cmd_start argv in the contract order, for each combination of optional parts', () => {
  const table: Array<{ title: string; c: Partial<UserProgramContext>; p: Parameters<typeof program>[0]; want: string[] }> = [
    { title: 'minimal', c: {}, p: {}, want: ['--iface=eth0', '--direction=xdpingress', '--version=1_0_0', '--log-dir=/var/log/l3af'] },
    {
      title: 'seed ratelimiting (start_args in key order)', c: {}, p: { version: 'latest', start_args: { ports: '80,8080,8081', rate: '2' } },
      want: ['--iface=eth0', '--direction=xdpingress', '--version=latest', '--log-dir=/var/log/l3af', '--ports=80,8080,8081', '--rate=2'],
    },
    {
      title: 'map-name when the agent did not load the object', c: { prevMapPin: '/sys/fs/bpf/eth0/xdp-root/latest/xdp_root_array' }, p: { version: '2.1.3' },
      want: ['--iface=eth0', '--direction=xdpingress', '--version=2_1_3', '--map-name=/sys/fs/bpf/eth0/xdp-root/latest/xdp_root_array', '--log-dir=/var/log/l3af'],
    },
    {
      title: 'no map-name when the agent loaded the object', c: { prevMapPin: '/sys/fs/bpf/x' }, p: { object_file: 'rl.bpf.o' },
      want: ['--iface=eth0', '--direction=xdpingress', '--version=1_0_0', '--log-dir=/var/log/l3af'],
    },
    {
      title: 'rules file under <pkg>/<direction>/, then numbers and booleans stringified', c: { direction: 'egress' },
      p: { rules_file: 'rules.txt', rules: 'allow all', start_args: { rate: 2, verbose: true, quiet: false, ratio: 0.5, name: '' } },
      want: ['--iface=eth0', '--direction=egress', '--version=1_0_0', '--log-dir=/var/log/l3af', '--rules-file=/pkg/ratelimiting/egress/rules.txt',
        '--rate=2', '--verbose=true', '--quiet=false', '--ratio=0.5', '--name='],
    },
  ];
  for (const row of table) assert.deepEqual(startArgv({ ...ctx, ...row.c }, program(row.p)), row.want, row.title);
});

test("l3afd's optional parts: no --log-dir without bpf-log-dir (or one character), no --iface/--version when empty, rules only when both set", () => {
  const { logDir: _unused, ...noLog } = ctx;
  assert.deepEqual(startArgv(noLog, program()), ['--iface=eth0', '--direction=xdpingress', '--version=1_0_0']);
  assert.deepEqual(startArgv({ ...ctx, logDir: '/' }, program()), ['--iface=eth0', '--direction=xdpingress', '--version=1_0_0'], 'l3afd needs length > 1');
  assert.deepEqual(updateArgv(noLog, program({ update_args: { a: 'b' } })), ['--iface=eth0', '--direction=xdpingress', '--cmd=update', '--version=1_0_0', '--a=b']);
  assert.deepEqual(startArgv({ ...noLog, iface: '' }, program({ version: '' })), ['--direction=xdpingress']);
  assert.deepEqual(startArgv(noLog, program({ rules_file: 'r.txt', rules: '' })), ['--iface=eth0', '--direction=xdpingress', '--version=1_0_0'], 'empty rules: no --rules-file');
});

test('cmd_stop, cmd_status and cmd_update argv (no "--key =value" space)', () => {
  const p = program({ version: '1.2', stop_args: { mode: 'graceful', wait: 5 }, status_args: { verbose: 1 }, update_args: { rate: '9' } });
  assert.deepEqual(stopArgv({ ...ctx, direction: 'ingress' }, p), ['--iface=eth0', '--direction=ingress', '--mode=graceful', '--wait=5']);
  assert.deepEqual(statusArgv(p), ['--verbose=1']);
  assert.deepEqual(updateArgv(ctx, p), ['--iface=eth0', '--direction=xdpingress', '--cmd=update', '--version=1_2', '--log-dir=/var/log/l3af', '--rate=9']);
  assert.deepEqual(stopArgv(ctx, program()), ['--iface=eth0', '--direction=xdpingress']);
  assert.deepEqual(statusArgv(program()), []);
});

test('values other than strings, finite numbers and booleans are refused with the key named', () => {
  for (const [v, kind] of [[{ a: 1 }, 'object'], [[1], 'an array'], [null, 'null'], [undefined, 'undefined'], [10n, 'bigint']] as const) {
    assert.throws(() => renderArgs({ ports: v }, 'start_args'), (e: Error) => e instanceof UserProgramArgsError && e.message === `start_args.ports: value must be a string, number or boolean (got ${kind})`);
  }
  assert.throws(() => argValue('rate', Number.NaN), /args\.rate: NaN is not a finite number/);
  assert.throws(() => argValue('rate', Infinity), /Infinity is not a finite number/);
  assert.throws(() => renderArgs({ '--evil': 'x' }), /key '--evil' is not a valid option name/);
  assert.throws(() => renderArgs({ 'a=b': 'x' }), /key 'a=b'/);
  assert.throws(() => renderArgs({ a: 'x\0y' }), /NUL byte/);
  assert.deepEqual(renderArgs(null), []);
  assert.deepEqual(renderArgs({ 'with-dash.and_dot': 'v w' }), ['--with-dash.and_dot=v w']);
});

test('versions, directions, rules without a rules_file, rules_file escaping its folder', () => {
  assert.equal(versionArg('1.2.3'), '1_2_3');
  assert.equal(versionArg('latest'), 'latest');
  assert.deepEqual(['xdp_ingress', 'tc_ingress', 'tc_egress'].map((d) => userDirection(d as 'xdp_ingress')), ['xdpingress', 'ingress', 'egress']);
  assert.throws(() => startArgv(ctx, program({ rules: 'x' })), /rules is set but rules_file is empty/);
  assert.throws(() => startArgv(ctx, program({ rules_file: '../escape.txt', rules: 'xy' })), /rules_file '\.\.\/escape\.txt' leaves the package's xdpingress folder/);
  assert.throws(() => startArgv(ctx, program({ rules_file: '/etc/passwd', rules: 'xy' })), /leaves the package's xdpingress folder/);
});

test('writeRulesFile writes rules into <pkg>/<direction>/<rules_file>', () => {
  using w = workdir();
  const path = writeRulesFile({ ...ctx, packageDir: w.pkg, direction: 'ingress' }, { rules_file: 'sub/rules.conf', rules: 'deny 10.0.0.0/8\n' });
  assert.equal(path, join(w.pkg, 'ingress', 'sub', 'rules.conf'));
  assert.equal(readFileSync(path as string, 'utf8'), 'deny 10.0.0.0/8\n');
  assert.equal(writeRulesFile({ ...ctx, packageDir: w.pkg }, { rules_file: '', rules: '' }), undefined);
  assert.equal(writeRulesFile({ ...ctx, packageDir: w.pkg }, { rules_file: 'r.conf', rules: '' }), undefined, 'as l3afd: no rules, no file');
});

test('commands resolve inside the package folder and must be executable', () => {
  using w = workdir();
  assert.equal(resolveCommand(w.pkg, 'daemon.sh'), join(w.pkg, 'daemon.sh'));
  assert.equal(resolveCommand(w.pkg, './daemon.sh'), join(w.pkg, 'daemon.sh'));
  assert.equal(resolveCommand(w.pkg, join(w.pkg, 'daemon.sh')), join(w.pkg, 'daemon.sh'), 'an absolute path inside the package is fine');
  mkdirSync(join(w.pkg, 'bin'));
  writeFileSync(join(w.pkg, 'bin', 'tool'), '#!/bin/sh\n', { mode: 0o755 });
  assert.equal(resolveCommand(w.pkg, 'bin/tool'), join(w.pkg, 'bin', 'tool'));
  const refused: Array<[string, RegExp]> = [
    ['../pkg/daemon.sh', /leaves the package folder/],
    ['bin/../daemon.sh', /leaves the package folder/],
    ['/bin/sh', /leaves the package folder/],
    ['', /cmd_start is empty/],
    ['missing.sh', /does not exist in the package folder/],
    ['bin', /is not a regular file/],
  ];
  for (const [cmd, re] of refused) assert.throws(() => resolveCommand(w.pkg, cmd), (e: Error) => e instanceof UserProgramArgsError && re.test(e.message), cmd);
  symlinkSync('/bin/sh', join(w.pkg, 'shell'));
  assert.throws(() => resolveCommand(w.pkg, 'shell'), /resolves to .*sh, outside the package folder/);
  writeFileSync(join(w.pkg, 'noexec.sh'), '#!/bin/sh\n');
  chmodSync(join(w.pkg, 'noexec.sh'), 0o644);
  assert.throws(() => resolveCommand(w.pkg, 'noexec.sh', 'cmd_stop'), /cmd_stop 'noexec\.sh' is not executable/);
  assert.throws(() => resolveCommand(join(w.dir, 'nope'), 'daemon.sh'), /package folder .* does not exist/);
});
