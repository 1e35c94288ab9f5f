import type { GetInterface, GetProgram } from '../api/types';
import { desiredDrift, kernelDrift } from './drift';

function prog(name: string, over: Partial<GetProgram> = {}): GetProgram {
  return {
    id: 0,
    name,
    seq_id: 1,
    artifact: `${name}.tar.gz`,
    map_name: '',
    cmd_start: '',
    cmd_stop: '',
    cmd_status: '',
    cmd_config: '',
    cmd_update: '',
    version: '1.0',
    user_program_daemon: false,
    is_plugin: false,
    cpu: 0,
    memory: 0,
    admin_status: 'enabled',
    prog_type: 'xdp',
    rules_file: '',
    rules: '',
    config_file_path: '',
    cfg_version: 0,
    start_args: {},
    stop_args: {},
    status_args: {},
    update_args: {},
    monitor_maps: [],
    object_file: '',
    entry_function_name: '',
    ...over,
    status: { attached: true, kernel_prog_id: 42, last_error: null, restarts: 0, ...(over.status ?? {}) },
  } as GetProgram;
}
const doc = (host: string, xdp: GetProgram[], iface = 'veth0'): GetInterface => ({
  host_name: host,
  iface,
  ipv4_address: '10.0.0.1',
  bpf_programs: { xdp_ingress: xdp, tc_ingress: null, tc_egress: null, probes: null },
});

describe('desiredDrift', () => {
  const ref = [doc('ref', [prog('ratelimiting', { start_args: { rate: '5' } }), prog('connlimit')])];
  it('none when only host, address, id and live status differ', () => {
    const same = [
      doc('other', [
        prog('ratelimiting', {
          start_args: { rate: '5' },
          id: 9,
          status: { attached: false, kernel_prog_id: 0, last_error: 'x', restarts: 3 },
        }),
        prog('connlimit'),
      ]),
    ];
    expect(desiredDrift(ref, same)).toEqual([]);
  });
  it('names missing, extra, version, admin status, settings and order differences', () => {
    expect(desiredDrift(ref, [doc('h', [prog('connlimit', { version: '2.0' }), prog('extra')])])).toEqual([
      'veth0 xdp_ingress: ratelimiting missing',
      'veth0 xdp_ingress: connlimit version 2.0, reference 1.0',
      'veth0 xdp_ingress: extra not in the reference',
    ]);
    expect(
      desiredDrift(ref, [
        doc('h', [
          prog('ratelimiting', { start_args: { rate: '7' } }),
          prog('connlimit', { admin_status: 'disabled' }),
        ]),
      ])
    ).toEqual([
      'veth0 xdp_ingress: ratelimiting settings differ (artifact, arguments or sequence)',
      'veth0 xdp_ingress: connlimit disabled, reference enabled',
    ]);
    expect(
      desiredDrift(ref, [doc('h', [prog('connlimit'), prog('ratelimiting', { start_args: { rate: '5' } })])])
    ).toEqual(['veth0 xdp_ingress: order connlimit, ratelimiting, reference ratelimiting, connlimit']);
    expect(desiredDrift(ref, [])).toEqual([
      'veth0 xdp_ingress: ratelimiting missing',
      'veth0 xdp_ingress: connlimit missing',
    ]);
    expect(desiredDrift(ref, [...ref, doc('h', [prog('a')], 'veth9')])).toEqual([
      'veth9 xdp_ingress: a not in the reference',
    ]);
  });
});

describe('kernelDrift', () => {
  it('finds programs whose kernel state disagrees with the desired one', () => {
    const d = doc('h', [
      prog('fine'),
      prog('detached', { status: { attached: false, kernel_prog_id: 0, last_error: null, restarts: 0 } }),
      prog('erred', {
        status: { attached: false, kernel_prog_id: 0, last_error: 'verifier: invalid mem access', restarts: 1 },
      }),
      prog('ghost', { status: { attached: true, kernel_prog_id: 0, last_error: null, restarts: 0 } }),
      prog('off', { admin_status: 'disabled' }),
      prog('off-ok', {
        admin_status: 'disabled',
        status: { attached: false, kernel_prog_id: 0, last_error: null, restarts: 0 },
      }),
    ]);
    expect(kernelDrift([d]).map((k) => `${k.name}: ${k.problem}`)).toEqual([
      'detached: enabled but not attached',
      'erred: last error: verifier: invalid mem access',
      'ghost: attached without a kernel program',
      'off: disabled but still attached',
    ]);
  });
});
