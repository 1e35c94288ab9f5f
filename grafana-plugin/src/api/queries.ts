/**
 * PromQL of the Ratelimiting page, over the agent's metrics (agent/src/metrics/map-monitor.ts):
 * monitored map keys are `l3af_map_value` (every monitored key, whatever its aggregator) and
 * `l3af_map_rate_max_per_second` (max-rate), the payload's map_args `l3af_map_arg_value`, labelled host,
 * program, direction, interface, ipv4_address, map, key.
 * ratelimiting's maps: rl_recv_count_map[0] = candidate connections, rl_drop_count_map[0] = drops,
 * rl_config_map[0] = the configured rate (from map_args: no monitor_maps entry needed, as in the seed payload).
 */

/** Label matcher for the ratelimiting program on the chosen hosts and interfaces. */
const sel = (map: string) => `program="ratelimiting",map="${map}",key="0",host=~"$host",interface=~"$interface"`;

export const RATELIMITING_QUERIES = {
  /** Candidate connections per second (new connections to the limited ports). */
  candidates: `sum by (host, interface) (rate(l3af_map_value{${sel('rl_recv_count_map')}}[$__rate_interval]))`,
  /** Dropped connections per second. */
  dropped: `sum by (host, interface) (rate(l3af_map_value{${sel('rl_drop_count_map')}}[$__rate_interval]))`,
  /** The configured rate (connections per second). */
  configured: `max by (host, interface) (l3af_map_arg_value{${sel('rl_config_map')}})`,
} as const;

/** The label query for the $host and $interface variables. */
export const HOST_VALUES = 'label_values(l3af_map_value{program="ratelimiting"}, host)';
export const INTERFACE_VALUES = 'label_values(l3af_map_value{program="ratelimiting",host=~"$host"}, interface)';
