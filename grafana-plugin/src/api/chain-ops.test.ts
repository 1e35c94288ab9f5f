import {
  ChangeError,
  addBody,
  deleteBody,
  nextSeqId,
  parseArgs,
  parseMapArgs,
  updateBody,
  wholeHost,
  withMapArg,
  withMapKeys,
} from './chain-ops';
import type { GetInterface } from './types';
import { getProgram } from '../test/backend';

function doc(): GetInterface {
  return {
    host_name: 'h1',
    iface: 'eth0',
    ipv4_address: '',
    bpf_programs: {
      xdp_ingress: [getProgram('b', 2), getProgram('a', 1), getProgram('c', 3)] as never,
      tc_ingress: null,
      tc_egress: [getProgram('t', 1, { prog_type: 'tc' })] as never,
      probes: null,
    },
  };
}

describe('wholeHost', () => {
  it('sends every other interface as it is (without status): the agent\'s update, as l3afd\'s, stops interfaces it omits', () => {
    const other: GetInterface = { ...doc(), iface: 'eth1', ipv4_address: '10.0.0.2' };
    const body = wholeHost([doc(), other], updateBody(doc(), 'xdp_ingress', 'b', { kind: 'admin_status', value: 'disabled' }));
    expect(body.map((e) => e.iface)).toEqual(['eth0', 'eth1']);
    expect(body[0]?.bpf_programs?.xdp_ingress?.find((p) => p.name === 'b')?.admin_status).toBe('disabled');
    expect(body[1]).toMatchObject({ iface: 'eth1', ipv4_address: '10.0.0.2' });
    expect(body[1]?.bpf_programs?.xdp_ingress?.map((p) => p.name)).toEqual(['a', 'b', 'c']);
    expect(JSON.stringify(body)).not.toContain('"status"');
  });
});

describe('updateBody', () => {
  it('sends the whole interface, in chain order, without status', () => {
    const [el] = updateBody(doc(), 'xdp_ingress', 'b', { kind: 'admin_status', value: 'disabled' });
    expect(el?.bpf_programs?.xdp_ingress?.map((p) => [p.name, p.seq_id, p.admin_status])).toEqual([
      ['a', 1, 'enabled'],
      ['b', 2, 'disabled'],
      ['c', 3, 'enabled'],
    ]);
    expect(el?.bpf_programs?.tc_egress?.map((p) => p.name)).toEqual(['t']);
    expect(el?.bpf_programs?.tc_ingress).toBeNull();
    expect(JSON.stringify(el)).not.toContain('"status"');
    expect(el).toMatchObject({ host_name: 'h1', iface: 'eth0' });
  });

  it('moves by swapping seq_ids with the neighbour', () => {
    const up = updateBody(doc(), 'xdp_ingress', 'b', { kind: 'move', by: -1 })[0]?.bpf_programs?.xdp_ingress;
    expect(up?.map((p) => [p.name, p.seq_id])).toEqual([
      ['a', 2],
      ['b', 1],
      ['c', 3],
    ]);
    const down = updateBody(doc(), 'xdp_ingress', 'b', { kind: 'move', by: 1 })[0]?.bpf_programs?.xdp_ingress;
    expect(down?.map((p) => [p.name, p.seq_id])).toEqual([
      ['a', 1],
      ['b', 3],
      ['c', 2],
    ]);
  });

  it('gives distinct seq_ids when neighbours share one', () => {
    const d = doc();
    d.bpf_programs.xdp_ingress = [getProgram('a', 1), getProgram('b', 1)] as never;
    const list = updateBody(d, 'xdp_ingress', 'b', { kind: 'move', by: -1 })[0]?.bpf_programs?.xdp_ingress ?? [];
    const b = list.find((p) => p.name === 'b')!;
    const a = list.find((p) => p.name === 'a')!;
    expect(b.seq_id!).toBeLessThan(a.seq_id!);
  });

  it('refuses to move past the ends or to change a program that is not there', () => {
    expect(() => updateBody(doc(), 'xdp_ingress', 'a', { kind: 'move', by: -1 })).toThrow(
      new ChangeError('a is already first in xdp_ingress')
    );
    expect(() => updateBody(doc(), 'xdp_ingress', 'c', { kind: 'move', by: 1 })).toThrow(/already last/);
    expect(() => updateBody(doc(), 'tc_ingress', 'a', { kind: 'admin_status', value: 'enabled' })).toThrow(
      /not in tc_ingress of eth0/
    );
  });

  it('replaces start_args and map_args of one program only', () => {
    const list = updateBody(doc(), 'xdp_ingress', 'c', {
      kind: 'map_args',
      value: [{ name: 'm', args: [{ key: 0, value: 7 }] }],
    })[0]?.bpf_programs?.xdp_ingress;
    expect(list?.find((p) => p.name === 'c')?.map_args).toEqual([{ name: 'm', args: [{ key: 0, value: 7 }] }]);
    expect(list?.find((p) => p.name === 'a')?.map_args).toBeNull();
    const s = updateBody(doc(), 'xdp_ingress', 'a', { kind: 'start_args', value: { verbose: true } })[0]?.bpf_programs
      ?.xdp_ingress;
    expect(s?.find((p) => p.name === 'a')?.start_args).toEqual({ verbose: true });
  });
});

describe('bodies and map_args helpers', () => {
  it('add and delete bodies', () => {
    expect(
      addBody('h', 'eth0', 'tc_egress', { name: 'x', artifact: 'x.tar.gz', version: '1', admin_status: 'enabled' })
    ).toEqual([
      {
        host_name: 'h',
        iface: 'eth0',
        bpf_programs: { tc_egress: [{ name: 'x', artifact: 'x.tar.gz', version: '1', admin_status: 'enabled' }] },
      },
    ]);
    expect(deleteBody('h', 'eth0', 'xdp_ingress', 'x')).toEqual([
      { host_name: 'h', iface: 'eth0', bpf_programs: { xdp_ingress: ['x'] } },
    ]);
    expect(nextSeqId(doc().bpf_programs.xdp_ingress)).toBe(4);
    expect(nextSeqId(null)).toBe(1);
  });

  it('withMapArg sets one key and keeps the rest; withMapKeys replaces a map’s keys', () => {
    const args = [
      {
        name: 'rl_config_map',
        args: [
          { key: 0, value: 2 },
          { key: 2, value: 10 },
        ],
      },
      { name: 'rl_ports_map', args: [{ key: 80, value: 1 }] },
    ];
    expect(withMapArg(args, 'rl_config_map', 0, 5)).toEqual([
      {
        name: 'rl_config_map',
        args: [
          { key: 0, value: 5 },
          { key: 2, value: 10 },
        ],
      },
      { name: 'rl_ports_map', args: [{ key: 80, value: 1 }] },
    ]);
    expect(args[0]?.args[0]?.value).toBe(2);
    expect(withMapArg(null, 'm', 1, 1)).toEqual([{ name: 'm', args: [{ key: 1, value: 1 }] }]);
    expect(withMapKeys(args, 'rl_ports_map', [8080, 8081])).toEqual([
      args[0],
      {
        name: 'rl_ports_map',
        args: [
          { key: 8080, value: 1 },
          { key: 8081, value: 1 },
        ],
      },
    ]);
  });

  it('parses typed map_args and start_args, naming the first problem', () => {
    expect(parseMapArgs('null')).toBeNull();
    expect(parseMapArgs('[{"name":"m","args":[{"key":1,"value":2}]}]')).toEqual([
      { name: 'm', args: [{ key: 1, value: 2 }] },
    ]);
    expect(() => parseMapArgs('[{')).toThrow(/not JSON/);
    expect(() => parseMapArgs('{}')).toThrow(/must be a list/);
    expect(() => parseMapArgs('[{"args":[]}]')).toThrow('map_args[0]: needs a "name" (string)');
    expect(() => parseMapArgs('[{"name":"m","args":[{"key":1.5,"value":2}]}]')).toThrow(
      'map_args[0].args[0]: key and value must be integers'
    );
    expect(parseArgs('')).toBeNull();
    expect(parseArgs('{"rate": 3, "v": true}')).toEqual({ rate: 3, v: true });
    expect(() => parseArgs('[1]')).toThrow(/must be an object/);
    expect(() => parseArgs('{"x": {"y": 1}}')).toThrow('start_args.x must be a string, number or boolean');
  });
});
