/** The chains of one interface of one agent, with their actions (see useChainActions). */
import React, { useCallback, useState } from 'react';
import { Alert, Button, ConfirmModal, LoadingPlaceholder, Spinner, Stack } from '@grafana/ui';
import { AgentClient } from '../api/client';
import { AgentError } from '../api/agent-error';
import { nextSeqId, ordered } from '../api/chain-ops';
import { withParked } from '../api/parked';
import type { AgentRef } from '../api/settings';
import {
  CHAIN_DIRECTIONS,
  type ChainElement,
  type ChainDirection,
  type Direction,
  type GetInterface,
  type GetProgram,
  type InterfaceChains,
} from '../api/types';
import { AgentErrorView } from '../components/AgentErrorView';
import { usePluginSettings } from '../components/PluginContext';
import { ProgramForm } from '../components/ProgramForm';
import { ResultsView } from '../components/ResultsView';
import { useAsync } from '../hooks/useAsync';
import { ChainTable } from './ChainTable';
import { useChainActions } from './useChainActions';

const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e));

export function InterfaceView({ agent, iface, onChanged }: { agent: AgentRef; iface: string; onChanged: () => void }) {
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
  const [editing, setEditing] = useState<{ direction: Direction; program: GetProgram }>();
  const [adding, setAdding] = useState(false);
  const [refresh, setRefresh] = useState(0);
  const promUid = usePluginSettings().jsonData.prometheusUid;

  const reload = useCallback(() => {
    setRefresh((r) => r + 1);
    doc.reload();
    kernel.reload();
    onChanged();
  }, [doc, kernel, onChanged]);
  // programs this session disabled: the agent (as l3afd) no longer lists them; shown greyed out to enable again
  const d = doc.value ? withParked(agent.name, doc.value as GetInterface) : undefined;
  const actions = useChainActions(agent, client, d, reload);

  if (doc.loading && !doc.value) {
    return <LoadingPlaceholder text={`Reading ${iface} from ${agent.name}…`} />;
  }
  if (doc.error || !d) {
    return <AgentErrorView error={doc.error} />;
  }
  const kernelByDir = new Map<string, Map<string, ChainElement>>();
  for (const c of kernel.value?.chains ?? []) {
    kernelByDir.set(c.direction, new Map(c.programs.map((e) => [e.name, e])));
  }
  const lists = [...CHAIN_DIRECTIONS, 'probes' as const].filter(
    (dir) => dir !== 'probes' || (d.bpf_programs.probes ?? []).length > 0
  );
  const total = lists.reduce((n, dir) => n + (d.bpf_programs[dir] ?? []).length, 0);
  const { running, outcome, pending } = actions;

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
        const chain = kernel.value?.chains.find((c) => c.direction === dir);
        return (
          <div key={dir} style={{ marginTop: 16 }}>
            <h4>
              {dir}
              {kernel.value && dir !== 'probes' && (
                <small style={{ marginLeft: 8 }}>
                  {k ? `kernel: root ${chain?.root.kernel_prog_id} (${chain?.attach_mode})` : 'kernel: no chain'}
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
              onChange={(p, req) => actions.change(dir, p, req)}
              onEdit={(program) => setEditing({ direction: dir, program })}
              onDelete={(p) => actions.remove(dir, p)}
            />
          </div>
        );
      })}
      {editing && (
        <ProgramForm
          mode="edit"
          program={editing.program}
          packages={packages.value}
          onDismiss={() => setEditing(undefined)}
          onSubmit={(e) => {
            setEditing(undefined);
            actions.edit(editing.direction, editing.program, e);
          }}
        />
      )}
      {adding && (
        <ProgramForm
          mode="add"
          packages={packages.value}
          packagesError={packages.error === undefined ? undefined : messageOf(packages.error)}
          nextSeq={(dir: ChainDirection) => nextSeqId(d.bpf_programs[dir])}
          onDismiss={() => setAdding(false)}
          onSubmit={(req) => {
            setAdding(false);
            actions.add(req);
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
          onConfirm={() => void actions.execute(pending)}
          onDismiss={actions.cancel}
        />
      )}
    </div>
  );
}
