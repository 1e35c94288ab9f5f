/**
 * The seed payload of README.md ("Try it"): ratelimiting on XDP, 2 new connections per second to
 * ports 8080/8081, with the README's monitor_maps. The container tests send exactly this, on their
 * own interface.
 */
export const SEED_RATE = 2;
export const SEED_PORTS = [8080, 8081] as const;

export function seedPayload(hostName: string, iface: string): unknown[] {
  return [{
    host_name: hostName, iface,
    bpf_programs: {
      xdp_ingress: [{
        name: 'ratelimiting', seq_id: 1, artifact: 'l3af_ratelimiting.tar.gz', version: 'latest',
        admin_status: 'enabled', prog_type: 'xdp', map_name: 'xdp_rl_ingress_next_prog',
        object_file: 'ratelimiting.bpf.o', entry_function_name: '_xdp_ratelimiting',
        map_args: [
          { name: 'rl_config_map', args: [{ key: 0, value: SEED_RATE }] },
          { name: 'rl_ports_map', args: SEED_PORTS.map((p) => ({ key: p, value: 1 })) },
        ],
        monitor_maps: [
          { name: 'rl_drop_count_map', key: 0, aggregator: 'scalar' },
          { name: 'rl_recv_count_map', key: 0, aggregator: 'max-rate' },
        ],
      }],
    },
  }];
}
