/**
 * Chains: per agent, interface and direction, the programs in chain order with their status, version and
 * kernel id (and whether the kernel really links them), with actions: add, delete, enable/disable, move
 * up/down, edit start_args/map_args. Every action is confirmed, shows progress, and then the agent's
 * per-program result or its error.
 */
import React, { useCallback, useState } from 'react';
import { useSearchParams } from 'react-router-dom';
import { PluginPage } from '@grafana/runtime';
import {
  Alert,
  Badge,
  Button,
  ConfirmModal,
  Field,
  Input,
  LoadingPlaceholder,
  RadioButtonGroup,
  Spinner,
  Stack,
} from '@grafana/ui';
import { AgentClient, type Applied } from '../api/client';
import { AgentError } from '../api/agent-error';
import { addBody, deleteBody, nextSeqId, ordered, updateBody, wholeHost, type ProgramChange } from '../api/chain-ops';
import { park, unpark, withParked } from '../api/parked';
import type { AgentRef } from '../api/settings';
import {
  CHAIN_DIRECTIONS,
  type ChainDirection,
  type ChainElement,
  type Direction,
  type GetInterface,
  type GetProgram,
  type InterfaceChains,
} from '../api/types';
import { AgentErrorView } from '../components/AgentErrorView';
import { AgentPicker, NoAgents } from '../components/AgentPicker';
import { usePluginSettings } from '../components/PluginContext';
import { AddProgramModal, EditProgramModal, type AddRequest, type ArgsEdit } from '../components/ProgramForms';
import { MapSparkline } from '../components/MapSparkline';
import { ResultsView } from '../components/ResultsView';
import { useAsync } from '../hooks/useAsync';

/** An action waiting for confirmation, running, or done. */
interface Pending {
  title: string;
  lines: string[];
  confirmText: string;
  run: () => Promise<Applied>;
}
type Outcome = { what: string; applied?: Applied; error?: unknown };

function statusBadge(p: GetProgram, kernel?: ChainElement) {
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

function ChainTable({
  direction,
  iface,
  promUid,
  refresh,
  programs,
  kernel,
  busy,
  onChange,
  onEdit,
  onDelete,
}: {
  direction: Direction;
  iface: string;
  promUid?: string;
  refresh: number;
  programs: GetProgram[];
  kernel?: Map<string, ChainElement>;
  busy: boolean;
  onChange: (p: GetProgram, change: ProgramChange, title: string, lines: string[], confirmText: string) => void;
  onEdit: (p: GetProgram) => void;
  onDelete: (p: GetProgram) => void;
}) {
  return (
    <table className="filter-table" data-testid={`chain-${direction}`} style={{ width: '100%' }}>
      <thead>
        <tr>
          <th>seq_id</th>
          <th>program</th>
          <th>version</th>
          <th>status</th>
          <th>kernel id</th>
          <th>restarts</th>
          <th>map_args</th>
          <th>monitored maps</th>
          <th>actions</th>
        </tr>
      </thead>
      <tbody>
        {programs.map((p, i) => {
          const k = kernel?.get(p.name);
          const enabled = p.admin_status === 'enabled';
          return (
            <tr key={p.name} data-testid={`row-${direction}-${p.name}`}>
              <td>{p.seq_id}</td>
              <td>
                <strong>{p.name}</strong>
                {p.status?.last_error && <div style={{ color: 'red' }}>{p.status.last_error}</div>}
              </td>
              <td>{p.version}</td>
              <td data-testid="cell-status">{statusBadge(p, k)}</td>
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
                {(p.monitor_maps ?? []).length === 0
                  ? '—'
                  : !promUid
                    ? 'no Prometheus data source set in the app settings'
                    : (p.monitor_maps ?? []).map((m) => (
                        <MapSparkline
                          key={`${m.name}/${m.key}/${m.aggregator}`}
                          uid={promUid}
                          program={p.name}
                          iface={iface}
                          direction={direction}
                          monitor={m}
                          refresh={refresh}
                        />
                      ))}
              </td>
              <td>
                <Stack direction="row" gap={0.5}>
                  <Button
                    size="sm"
                    variant="secondary"
                    icon="arrow-up"
                    aria-label={`Move ${p.name} up`}
                    data-testid={`up-${p.name}`}
                    disabled={busy || i === 0}
                    onClick={() =>
                      onChange(
                        p,
                        { kind: 'move', by: -1 },
                        `Move ${p.name} up`,
                        [`${p.name} swaps places with ${programs[i - 1]?.name}`],
                        'Move'
                      )
                    }
                  />
                  <Button
                    size="sm"
                    variant="secondary"
                    icon="arrow-down"
                    aria-label={`Move ${p.name} down`}
                    data-testid={`down-${p.name}`}
                    disabled={busy || i === programs.length - 1}
                    onClick={() =>
                      onChange(
                        p,
                        { kind: 'move', by: 1 },
                        `Move ${p.name} down`,
                        [`${p.name} swaps places with ${programs[i + 1]?.name}`],
                        'Move'
                      )
                    }
                  />
                  <Button
                    size="sm"
                    variant="secondary"
                    data-testid={`${enabled ? 'disable' : 'enable'}-${p.name}`}
                    disabled={busy}
                    onClick={() =>
                      onChange(
                        p,
                        { kind: 'admin_status', value: enabled ? 'disabled' : 'enabled' },
                        `${enabled ? 'Disable' : 'Enable'} ${p.name}`,
                        [
                          enabled
                            ? `${p.name} is unloaded from the chain and, as in l3afd, leaves the agent's desired state (this page keeps it to enable again).`
                            : `${p.name} is loaded and linked again.`,
                        ],
                        enabled ? 'Disable' : 'Enable'
                      )
                    }
                  >
                    {enabled ? 'Disable' : 'Enable'}
                  </Button>
                  <Button
                    size="sm"
                    variant="secondary"
                    icon="pen"
                    data-testid={`edit-${p.name}`}
                    disabled={busy}
                    onClick={() => onEdit(p)}
                  >
                    Edit
                  </Button>
                  <Button
                    size="sm"
                    variant="destructive"
                    icon="trash-alt"
                    data-testid={`delete-${p.name}`}
                    disabled={busy}
                    onClick={() => onDelete(p)}
                  >
                    Delete
                  </Button>
                </Stack>
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

/** The chains of one interface of one agent. */
function InterfaceView({ agent, iface, onChanged }: { agent: AgentRef; iface: string; onChanged: () => void }) {
  const client = new AgentClient(agent);
  const doc = useAsync(() => client.config(iface), [agent.name, agent.url, iface]);
  const kernel = useAsync<InterfaceChains | undefined>(
    () =>
      client
        .chains(iface)
        .catch((e) => (e instanceof AgentError && e.kind === 'not-supported' ? undefined : Promise.reject(e))),
    [agent.name, agent.url, iface]
  );
  const packages = useAsync(() => client.packages(), [agent.name, agent.url]);
  const [pending, setPending] = useState<Pending>();
  const [running, setRunning] = useState<string>();
  const [outcome, setOutcome] = useState<Outcome>();
  const [editing, setEditing] = useState<{ direction: Direction; program: GetProgram }>();
  const [adding, setAdding] = useState(false);
  const [refresh, setRefresh] = useState(0);
  const { jsonData } = usePluginSettings();
  const promUid = jsonData.prometheusUid;

  const reload = useCallback(() => {
    setRefresh((r) => r + 1);
    doc.reload();
    kernel.reload();
    onChanged();
  }, [doc, kernel, onChanged]);

  const execute = async (p: Pending) => {
    setPending(undefined);
    setRunning(p.title);
    setOutcome(undefined);
    try {
      const applied = await p.run();
      setOutcome({ what: p.title, applied });
    } catch (error) {
      setOutcome({ what: p.title, error });
    } finally {
      setRunning(undefined);
      reload();
    }
  };

  if (doc.loading && !doc.value) {
    return <LoadingPlaceholder text={`Reading ${iface} from ${agent.name}…`} />;
  }
  if (doc.error) {
    return <AgentErrorView error={doc.error} />;
  }
  // programs this session disabled: the agent (as l3afd) no longer lists them; shown greyed out to enable again
  const d = withParked(agent.name, doc.value as GetInterface);
  const kernelByDir = new Map<string, Map<string, ChainElement>>();
  for (const c of kernel.value?.chains ?? []) {
    kernelByDir.set(c.direction, new Map(c.programs.map((e) => [e.name, e])));
  }
  const change =
    (direction: Direction) => (p: GetProgram, ch: ProgramChange, title: string, lines: string[], confirmText: string) =>
      setPending({
        title,
        lines: [...lines, `Sends: update of ${d.iface} on ${agent.name} (with its other interfaces as they are)`],
        confirmText,
        run: async () => {
          const applied = await client.update(wholeHost(await client.configs(), updateBody(d, direction, p.name, ch)));
          if (ch.kind === 'admin_status' && applied.ok) {
            if (ch.value === 'disabled') {
              park(agent.name, d.iface, direction, p);
            } else {
              unpark(agent.name, d.iface, direction, p.name);
            }
          }
          return applied;
        },
      });
  const lists = [...CHAIN_DIRECTIONS, 'probes' as const].filter(
    (dir) => dir !== 'probes' || (d.bpf_programs.probes ?? []).length > 0
  );
  const total = lists.reduce((n, dir) => n + (d.bpf_programs[dir] ?? []).length, 0);

  return (
    <div data-testid="interface-view">
      <Stack direction="row" gap={1}>
        <Button icon="plus" data-testid="add-program" disabled={!!running} onClick={() => setAdding(true)}>
          Add program
        </Button>
        <Button icon="sync" variant="secondary" onClick={reload} data-testid="refresh">
          Refresh
        </Button>
      </Stack>
      {running && (
        <div data-testid="operation-progress" style={{ margin: '8px 0' }}>
          <Spinner inline /> {running}: waiting for the agent…
        </div>
      )}
      {outcome?.applied && <ResultsView what={outcome.what} applied={outcome.applied} />}
      {outcome?.error !== undefined && <AgentErrorView error={outcome.error} title={`${outcome.what}: refused`} />}
      {kernel.error !== undefined && <AgentErrorView error={kernel.error} title="Kernel view unavailable" />}
      {total === 0 && (
        <Alert title={`No programs on ${iface}`} severity="info" data-testid="no-programs">
          {agent.name} runs no programs on {iface}. Use “Add program” to start a chain.
        </Alert>
      )}
      {lists.map((dir) => {
        const programs = ordered(d.bpf_programs[dir]);
        if (programs.length === 0) {
          return null;
        }
        const k = kernelByDir.get(dir);
        return (
          <div key={dir} style={{ marginTop: 16 }}>
            <h4>
              {dir}
              {kernel.value && dir !== 'probes' && (
                <small style={{ marginLeft: 8 }}>
                  {k
                    ? `kernel: root ${kernel.value.chains.find((c) => c.direction === dir)?.root.kernel_prog_id} (${kernel.value.chains.find((c) => c.direction === dir)?.attach_mode})`
                    : 'kernel: no chain'}
                </small>
              )}
            </h4>
            <ChainTable
              direction={dir}
              iface={d.iface}
              promUid={promUid}
              refresh={refresh}
              programs={programs}
              kernel={k}
              busy={!!running}
              onChange={change(dir)}
              onEdit={(program) => setEditing({ direction: dir, program })}
              onDelete={(p) =>
                setPending({
                  title: `Delete ${p.name}`,
                  lines: [
                    `${p.name} ${p.version} is unloaded from ${dir} of ${d.iface} and removed from the desired state of ${agent.name}.`,
                  ],
                  confirmText: 'Delete',
                  run: () => {
                    unpark(agent.name, d.iface, dir, p.name);
                    return client.delete(deleteBody(d.host_name, d.iface, dir, p.name));
                  },
                })
              }
            />
          </div>
        );
      })}
      {editing && (
        <EditProgramModal
          program={editing.program}
          onDismiss={() => setEditing(undefined)}
          onSubmit={(edit: ArgsEdit) => {
            const { direction, program } = editing;
            setEditing(undefined);
            setPending({
              title: `Change ${program.name}`,
              lines: [...edit.summary, `Sends: update of ${d.iface} on ${agent.name} (with its other interfaces as they are)`],
              confirmText: 'Apply',
              run: async () => {
                const withStart = updateBody(d, direction, program.name, {
                  kind: 'start_args',
                  value: edit.start_args,
                });
                const el = withStart[0]!;
                const list = el.bpf_programs?.[direction] ?? [];
                const i = list.findIndex((x) => x.name === program.name);
                list[i] = { ...list[i]!, map_args: edit.map_args };
                return client.update(wholeHost(await client.configs(), withStart));
              },
            });
          }}
        />
      )}
      {adding && (
        <AddProgramModal
          packages={packages.value}
          packagesError={
            packages.error === undefined
              ? undefined
              : packages.error instanceof Error
                ? packages.error.message
                : String(packages.error)
          }
          nextSeq={(dir: ChainDirection) => nextSeqId(d.bpf_programs[dir])}
          onDismiss={() => setAdding(false)}
          onSubmit={(req: AddRequest) => {
            setAdding(false);
            setPending({
              title: `Add ${req.program.name}`,
              lines: [...req.summary, `Sends: add to ${d.iface} on ${agent.name}`],
              confirmText: 'Add',
              run: () => client.add(addBody(d.host_name, d.iface, req.direction, req.program)),
            });
          }}
        />
      )}
      {pending && (
        <ConfirmModal
          isOpen
          title={pending.title}
          body={
            <div data-testid="confirm-body">
              {pending.lines.map((l, i) => (
                <div key={i}>{l}</div>
              ))}
            </div>
          }
          confirmText={pending.confirmText}
          confirmVariant={pending.confirmText === 'Delete' ? 'destructive' : 'primary'}
          onConfirm={() => void execute(pending)}
          onDismiss={() => setPending(undefined)}
        />
      )}
    </div>
  );
}

/** The Chains page. */
export default function Chains() {
  const { agents } = usePluginSettings();
  const [params, setParams] = useSearchParams();
  const agent = agents.find((a) => a.name === params.get('agent')) ?? agents[0];
  const iface = params.get('iface') ?? '';
  const [other, setOther] = useState('');
  const client = agent ? new AgentClient(agent) : undefined;
  const all = useAsync(async () => (client ? client.configs() : []), [agent?.name, agent?.url]);
  const host = useAsync(
    async () => (client ? client.host().catch(() => undefined) : undefined),
    [agent?.name, agent?.url]
  );
  const set = (k: string, v: string) => {
    const next = new URLSearchParams(params);
    next.set(k, v);
    if (k === 'agent') {
      next.delete('iface');
    }
    setParams(next, { replace: true });
  };
  const withPrograms = (all.value ?? []).map((d) => d.iface);
  const hostIfaces = (host.value?.interfaces ?? []).filter((i) => !i.internal).map((i) => i.name);
  const ifaces = [...new Set([...withPrograms, ...hostIfaces, ...(iface ? [iface] : [])])];

  return (
    <PluginPage>
      <div data-testid="page-chains">
        {!agent ? (
          <NoAgents />
        ) : (
          <Stack direction="column" gap={2}>
            <Field label="Agent">
              <AgentPicker agents={agents} value={agent.name} onChange={(v) => set('agent', v)} />
            </Field>
            {all.error ? (
              <AgentErrorView error={all.error} />
            ) : all.loading && !all.value ? (
              <LoadingPlaceholder text={`Asking ${agent.name}…`} />
            ) : (
              <>
                <Field
                  label="Interface"
                  description={
                    withPrograms.length === 0
                      ? `${agent.name} runs no programs yet; pick an interface to add one.`
                      : undefined
                  }
                >
                  <Stack direction="row" gap={1}>
                    {ifaces.length > 0 && (
                      <div data-testid="iface-picker">
                        <RadioButtonGroup
                          options={ifaces.map((n) => ({ label: withPrograms.includes(n) ? `${n} ●` : n, value: n }))}
                          value={iface}
                          onChange={(v) => set('iface', v)}
                        />
                      </div>
                    )}
                    <Input
                      data-testid="iface-other"
                      placeholder="other interface"
                      width={20}
                      value={other}
                      onChange={(e) => setOther(e.currentTarget.value)}
                      onKeyDown={(e) => e.key === 'Enter' && other.trim() && set('iface', other.trim())}
                    />
                    <Button
                      variant="secondary"
                      data-testid="iface-other-go"
                      disabled={!other.trim()}
                      onClick={() => set('iface', other.trim())}
                    >
                      Open
                    </Button>
                  </Stack>
                </Field>
                {iface ? (
                  <InterfaceView agent={agent} iface={iface} onChanged={all.reload} />
                ) : (
                  <Alert title="Pick an interface" severity="info" data-testid="pick-iface">
                    {withPrograms.length === 0
                      ? `${agent.name} runs no programs.`
                      : `Interfaces with programs: ${withPrograms.join(', ')}.`}
                  </Alert>
                )}
              </>
            )}
          </Stack>
        )}
      </div>
    </PluginPage>
  );
}
