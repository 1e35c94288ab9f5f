/**
 * The actions of one interface's chains: each is described (title, lines), confirmed, run against the agent with
 * progress shown, and ends with the agent's per-program result or its error; the view reloads after each.
 */
import { useState } from 'react';
import type { AgentClient, Applied } from '../api/client';
import { addBody, deleteBody, updateBody, wholeHost } from '../api/chain-ops';
import { park, unpark } from '../api/parked';
import type { AgentRef } from '../api/settings';
import type { Direction, GetInterface, GetProgram } from '../api/types';
import type { AddRequest, ArgsEdit } from '../components/ProgramForm';
import type { ChangeRequest } from './ChainTable';

/** An action waiting for confirmation. */
export interface Pending {
  title: string;
  lines: string[];
  confirmText: string;
  run: () => Promise<Applied>;
}

/** How the last action ended. */
export type Outcome = { what: string; applied?: Applied; error?: unknown };

export function useChainActions(agent: AgentRef, client: AgentClient, d: GetInterface | undefined, reload: () => void) {
  const [pending, setPending] = useState<Pending>();
  const [running, setRunning] = useState<string>();
  const [outcome, setOutcome] = useState<Outcome>();
  const updateLine = () => `Sends: update of ${d?.iface} on ${agent.name} (with its other interfaces as they are)`;

  const execute = async (p: Pending) => {
    setPending(undefined);
    setRunning(p.title);
    setOutcome(undefined);
    try {
      setOutcome({ what: p.title, applied: await p.run() });
    } catch (error) {
      setOutcome({ what: p.title, error });
    } finally {
      setRunning(undefined);
      reload();
    }
  };

  /** A row button's change of one program (move, enable/disable). */
  const change = (direction: Direction, p: GetProgram, req: ChangeRequest) =>
    d &&
    setPending({
      title: req.title,
      lines: [...req.lines, updateLine()],
      confirmText: req.confirmText,
      run: async () => {
        const applied = await client.update(
          wholeHost(await client.configs(), updateBody(d, direction, p.name, req.change))
        );
        const ch = req.change;
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

  const remove = (direction: Direction, p: GetProgram) =>
    d &&
    setPending({
      title: `Delete ${p.name}`,
      lines: [
        `${p.name} ${p.version} is unloaded from ${direction} of ${d.iface} and removed from the desired state of ${agent.name}.`,
      ],
      confirmText: 'Delete',
      run: () => {
        unpark(agent.name, d.iface, direction, p.name);
        return client.delete(deleteBody(d.host_name, d.iface, direction, p.name));
      },
    });

  const edit = (direction: Direction, program: GetProgram, e: ArgsEdit) =>
    d &&
    setPending({
      title: `Change ${program.name}`,
      lines: [...e.summary, updateLine()],
      confirmText: 'Apply',
      run: async () => {
        const body = updateBody(d, direction, program.name, { kind: 'start_args', value: e.start_args });
        const list = body[0]!.bpf_programs?.[direction] ?? [];
        const i = list.findIndex((x) => x.name === program.name);
        list[i] = { ...list[i]!, map_args: e.map_args };
        return client.update(wholeHost(await client.configs(), body));
      },
    });

  const add = (req: AddRequest) =>
    d &&
    setPending({
      title: `Add ${req.program.name}`,
      lines: [...req.summary, `Sends: add to ${d.iface} on ${agent.name}`],
      confirmText: 'Add',
      run: () => client.add(addBody(d.host_name, d.iface, req.direction, req.program)),
    });

  return { pending, running, outcome, execute, cancel: () => setPending(undefined), change, remove, edit, add };
}
