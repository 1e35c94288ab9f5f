/** One chain (interface × direction) as a table: programs in chain order, their status, and their actions. */
import React from 'react';
import { Badge, Button, Stack } from '@grafana/ui';
import type { ProgramChange } from '../api/chain-ops';
import type { ChainElement, Direction, GetProgram } from '../api/types';
import { MapSparkline } from '../components/MapSparkline';

/** A change of one program, with its confirmation's title, lines and button. */
export interface ChangeRequest {
  change: ProgramChange;
  title: string;
  lines: string[];
  confirmText: string;
}

export function StatusBadge({ p, kernel }: { p: GetProgram; kernel?: ChainElement }) {
  if (p.admin_status === 'disabled') {
    return <Badge text="disabled" color="darkgrey" />;
  }
  if (p.status?.last_error) {
    return <Badge text="failed" color="red" icon="exclamation-triangle" tooltip={p.status.last_error} />;
  }
  if (p.status?.attached && (kernel === undefined || kernel.linked)) {
    return <Badge text="attached" color="green" icon="check" />;
  }
  if (p.status?.attached && kernel && !kernel.linked) {
    return <Badge text="not linked in kernel" color="orange" />;
  }
  return <Badge text="not attached" color="orange" />;
}

/** The changes the row buttons offer for program `i` of `programs`. */
export function rowChanges(
  programs: GetProgram[],
  i: number
): Array<ChangeRequest & { id: string; icon?: 'arrow-up' | 'arrow-down'; label?: string; disabled: boolean }> {
  const p = programs[i]!;
  const enabled = p.admin_status === 'enabled';
  const move = (by: -1 | 1, word: 'up' | 'down') => ({
    id: `${word}-${p.name}`,
    icon: by < 0 ? ('arrow-up' as const) : ('arrow-down' as const),
    disabled: by < 0 ? i === 0 : i === programs.length - 1,
    change: { kind: 'move', by } as ProgramChange,
    title: `Move ${p.name} ${word}`,
    lines: [`${p.name} swaps places with ${programs[i + by]?.name}`],
    confirmText: 'Move',
  });
  return [
    move(-1, 'up'),
    move(1, 'down'),
    {
      id: `${enabled ? 'disable' : 'enable'}-${p.name}`,
      label: enabled ? 'Disable' : 'Enable',
      disabled: false,
      change: { kind: 'admin_status', value: enabled ? 'disabled' : 'enabled' },
      title: `${enabled ? 'Disable' : 'Enable'} ${p.name}`,
      lines: [
        enabled
          ? `${p.name} is unloaded from the chain and, as in l3afd, leaves the agent's desired state (this page keeps it to enable again).`
          : `${p.name} is loaded and linked again.`,
      ],
      confirmText: enabled ? 'Disable' : 'Enable',
    },
  ];
}

function MonitoredMaps(props: {
  p: GetProgram;
  iface: string;
  direction: Direction;
  promUid?: string;
  refresh: number;
}) {
  const maps = props.p.monitor_maps ?? [];
  if (maps.length === 0) {
    return <>—</>;
  }
  if (!props.promUid) {
    return <>no Prometheus data source set in the app settings</>;
  }
  return (
    <>
      {maps.map((m) => (
        <MapSparkline
          key={`${m.name}/${String(m.key)}/${m.aggregator}`}
          uid={props.promUid!}
          program={props.p.name}
          iface={props.iface}
          direction={props.direction}
          monitor={m}
          refresh={props.refresh}
        />
      ))}
    </>
  );
}

export function ChainTable(props: {
  direction: Direction;
  iface: string;
  promUid?: string;
  refresh: number;
  programs: GetProgram[];
  kernel?: Map<string, ChainElement>;
  busy: boolean;
  onChange: (p: GetProgram, req: ChangeRequest) => void;
  onEdit: (p: GetProgram) => void;
  onDelete: (p: GetProgram) => void;
}) {
  const { direction, programs, busy } = props;
  return (
    <table className="filter-table" data-testid={`chain-${direction}`} style={{ width: '100%' }}>
      <thead>
        <tr>
          {[
            'seq_id',
            'program',
            'version',
            'status',
            'kernel id',
            'restarts',
            'map_args',
            'monitored maps',
            'actions',
          ].map((h) => (
            <th key={h}>{h}</th>
          ))}
        </tr>
      </thead>
      <tbody>
        {programs.map((p, i) => (
          <tr key={p.name} data-testid={`row-${direction}-${p.name}`}>
            <td>{p.seq_id}</td>
            <td>
              <strong>{p.name}</strong>
              {p.status?.last_error && <div style={{ color: 'red' }}>{p.status.last_error}</div>}
            </td>
            <td>{p.version}</td>
            <td data-testid="cell-status">
              <StatusBadge p={p} kernel={props.kernel?.get(p.name)} />
            </td>
            <td data-testid="cell-kernel-id">{p.status?.kernel_prog_id || '—'}</td>
            <td>{p.status?.restarts ?? 0}</td>
            <td data-testid="cell-map-args">
              <code>
                {(p.map_args ?? [])
                  .map((m) => `${m.name}{${(m.args ?? []).map((kv) => `${kv.key}:${kv.value}`).join(',')}}`)
                  .join(' ')}
              </code>
            </td>
            <td data-testid="cell-monitored-maps">
              <MonitoredMaps
                p={p}
                iface={props.iface}
                direction={direction}
                promUid={props.promUid}
                refresh={props.refresh}
              />
            </td>
            <td>
              <Stack direction="row" gap={0.5}>
                {rowChanges(programs, i).map((c) => (
                  <Button
                    key={c.id}
                    size="sm"
                    variant="secondary"
                    icon={c.icon}
                    aria-label={c.icon ? c.title : undefined}
                    data-testid={c.id}
                    disabled={busy || c.disabled}
                    onClick={() => props.onChange(p, c)}
                  >
                    {c.label}
                  </Button>
                ))}
                <Button
                  size="sm"
                  variant="secondary"
                  icon="pen"
                  data-testid={`edit-${p.name}`}
                  disabled={busy}
                  onClick={() => props.onEdit(p)}
                >
                  Edit
                </Button>
                <Button
                  size="sm"
                  variant="destructive"
                  icon="trash-alt"
                  data-testid={`delete-${p.name}`}
                  disabled={busy}
                  onClick={() => props.onDelete(p)}
                >
                  Delete
                </Button>
              </Stack>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
