/**
 * Forms of the Chains page: edit a program's start_args / map_args (with ratelimiting's rate and ports as
 * plain fields), and add a program from the agent's repository listing or from a template.
 */
import React, { useMemo, useState } from 'react';
import { Alert, Button, Field, Input, Modal, RadioButtonGroup, Stack, TextArea } from '@grafana/ui';
import { ChangeError, mapArgValue, parseArgs, parseMapArgs, withMapArg, withMapKeys } from '../api/chain-ops';
import { RL_CONFIG_MAP, RL_PORTS_MAP, TEMPLATES, type ProgramTemplate } from '../api/catalogue';
import type { BpfProgram, ChainDirection, GetProgram, MapArg, ProgramArgs, RepositoryPackage } from '../api/types';

/** The ports listed in ratelimiting's rl_ports_map. */
function portsOf(args: MapArg[] | null | undefined): number[] {
  return (args?.find((m) => m.name === RL_PORTS_MAP)?.args ?? []).map((kv) => kv.key);
}

/** Parses "8080, 8081" into ports; throws ChangeError. */
export function parsePorts(text: string): number[] {
  const parts = text.split(/[\s,]+/).filter((s) => s !== '');
  return parts.map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 1 || n > 65535) {
      throw new ChangeError(`port "${s}" is not a number 1..65535`);
    }
    return n;
  });
}

/** Parses a ratelimiting rate; throws ChangeError. */
export function parseRate(text: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isInteger(n) || n < 0) {
    throw new ChangeError(`rate "${text}" is not a whole number of connections per second (0 or more)`);
  }
  return n;
}

const isRatelimiting = (p: { name: string; artifact?: string }) =>
  p.name === 'ratelimiting' || p.artifact === 'l3af_ratelimiting.tar.gz';

/** What the edit form produces. */
export interface ArgsEdit {
  start_args: ProgramArgs;
  map_args: MapArg[] | null;
  /** One line per change, for the confirmation. */
  summary: string[];
}

export function EditProgramModal({
  program,
  onDismiss,
  onSubmit,
}: {
  program: GetProgram;
  onDismiss: () => void;
  onSubmit: (edit: ArgsEdit) => void;
}) {
  const rl = isRatelimiting(program);
  const [rate, setRate] = useState(String(mapArgValue(program.map_args, RL_CONFIG_MAP, 0) ?? ''));
  const [ports, setPorts] = useState(portsOf(program.map_args).join(', '));
  const [startArgs, setStartArgs] = useState(JSON.stringify(program.start_args));
  const [mapArgs, setMapArgs] = useState(JSON.stringify(program.map_args, null, 1));
  const [error, setError] = useState<string>();

  const submit = () => {
    try {
      const start_args = parseArgs(startArgs);
      let map_args = parseMapArgs(mapArgs);
      const summary: string[] = [];
      if (rl) {
        const oldRate = mapArgValue(program.map_args, RL_CONFIG_MAP, 0);
        const newRate = parseRate(rate);
        if (newRate !== mapArgValue(map_args, RL_CONFIG_MAP, 0)) {
          map_args = withMapArg(map_args, RL_CONFIG_MAP, 0, newRate);
        }
        if (oldRate !== newRate) {
          summary.push(`rate: ${oldRate ?? 'unset'} → ${newRate} per second`);
        }
        const newPorts = parsePorts(ports);
        if (newPorts.join(',') !== portsOf(map_args).join(',')) {
          map_args = withMapKeys(map_args, RL_PORTS_MAP, newPorts);
        }
        if (newPorts.join(',') !== portsOf(program.map_args).join(',')) {
          summary.push(`ports: ${portsOf(program.map_args).join(', ') || 'none'} → ${newPorts.join(', ') || 'none'}`);
        }
      }
      if (JSON.stringify(start_args) !== JSON.stringify(program.start_args)) {
        summary.push(`start_args: ${JSON.stringify(program.start_args)} → ${JSON.stringify(start_args)}`);
      }
      if (JSON.stringify(map_args) !== JSON.stringify(program.map_args) && summary.length === 0) {
        summary.push(`map_args: ${JSON.stringify(map_args)}`);
      }
      if (summary.length === 0) {
        throw new ChangeError('Nothing changed.');
      }
      onSubmit({ start_args, map_args, summary });
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };

  return (
    <Modal title={`Edit ${program.name}`} isOpen onDismiss={onDismiss}>
      <div data-testid="edit-form">
        {rl && (
          <Stack direction="row" gap={2}>
            <Field label="Rate (connections per second)" description="rl_config_map[0]">
              <Input data-testid="edit-rate" value={rate} onChange={(e) => setRate(e.currentTarget.value)} width={20} />
            </Field>
            <Field label="Ports" description="rl_ports_map keys, comma separated">
              <Input
                data-testid="edit-ports"
                value={ports}
                onChange={(e) => setPorts(e.currentTarget.value)}
                width={30}
              />
            </Field>
          </Stack>
        )}
        <Field label="start_args" description='JSON object of --name=value arguments, or null (e.g. {"verbose": true})'>
          <Input
            data-testid="edit-start-args"
            value={startArgs}
            onChange={(e) => setStartArgs(e.currentTarget.value)}
          />
        </Field>
        <Field
          label="map_args"
          description={
            rl
              ? 'Edited by the fields above for rate and ports; other maps here'
              : 'JSON list of {name, args: [{key, value}]}'
          }
        >
          <TextArea
            data-testid="edit-map-args"
            rows={6}
            value={mapArgs}
            onChange={(e) => setMapArgs(e.currentTarget.value)}
          />
        </Field>
        {error && (
          <Alert title="Cannot apply" severity="error" data-testid="form-error">
            {error}
          </Alert>
        )}
        <Modal.ButtonRow>
          <Button variant="secondary" onClick={onDismiss}>
            Cancel
          </Button>
          <Button data-testid="edit-submit" onClick={submit}>
            Review change
          </Button>
        </Modal.ButtonRow>
      </div>
    </Modal>
  );
}

/** A choice of the add form: a package from the agent's repository, or a template. */
interface Choice {
  label: string;
  direction: ChainDirection;
  program: BpfProgram;
}

/** Chain roots are the agent's own business, not something a user adds. */
const isRoot = (name: string) => /-root$/.test(name);

/** The add form's choices: the repository's packages (roots left out, `latest` first), else the templates. */
export function choicesOf(packages: RepositoryPackage[] | undefined): Choice[] {
  if (!packages) {
    return TEMPLATES.map((t: ProgramTemplate) => ({ label: t.label, direction: t.direction, program: t.program }));
  }
  const listed = packages
    .filter((p) => !isRoot(p.name))
    .sort(
      (a, b) =>
        a.name.localeCompare(b.name) ||
        (a.version === 'latest' ? -1 : b.version === 'latest' ? 1 : b.version.localeCompare(a.version))
    );
  return listed.map((p) => {
    const template = TEMPLATES.find((t) => t.program.name === p.name);
    const program: BpfProgram = {
      ...(template?.program ?? { admin_status: 'enabled' }),
      ...(p.program ?? {}),
      name: p.name,
      version: p.version,
      artifact: p.artifact,
      admin_status: 'enabled',
    };
    return { label: `${p.name} ${p.version}`, direction: template?.direction ?? 'xdp_ingress', program };
  });
}

/** What the add form produces. */
export interface AddRequest {
  direction: ChainDirection;
  program: BpfProgram;
  summary: string[];
}

export function AddProgramModal({
  packages,
  packagesError,
  nextSeq,
  onDismiss,
  onSubmit,
}: {
  /** The agent's repository listing, or undefined when the agent does not list it. */
  packages: RepositoryPackage[] | undefined;
  /** Why the listing could not be read (the templates are offered instead). */
  packagesError?: string;
  nextSeq: (d: ChainDirection) => number;
  onDismiss: () => void;
  onSubmit: (req: AddRequest) => void;
}) {
  const choices = useMemo(() => choicesOf(packages), [packages]);
  const [index, setIndex] = useState(0);
  const choice = choices[index];
  const [direction, setDirection] = useState<ChainDirection>(choice?.direction ?? 'xdp_ingress');
  const [version, setVersion] = useState(choice?.program.version ?? 'latest');
  const [seq, setSeq] = useState(String(nextSeq(choice?.direction ?? 'xdp_ingress')));
  const [rate, setRate] = useState(String(mapArgValue(choice?.program.map_args, RL_CONFIG_MAP, 0) ?? 2));
  const [ports, setPorts] = useState(portsOf(choice?.program.map_args).join(', '));
  const [mapArgs, setMapArgs] = useState(JSON.stringify(choice?.program.map_args ?? null));
  const [objectFile, setObjectFile] = useState(choice?.program.object_file ?? '');
  const [entry, setEntry] = useState(choice?.program.entry_function_name ?? '');
  const [mapName, setMapName] = useState(choice?.program.map_name ?? '');
  const [error, setError] = useState<string>();

  const pick = (i: number) => {
    const c = choices[i];
    setIndex(i);
    if (c) {
      setDirection(c.direction);
      setVersion(c.program.version);
      setSeq(String(nextSeq(c.direction)));
      setRate(String(mapArgValue(c.program.map_args, RL_CONFIG_MAP, 0) ?? 2));
      setPorts(portsOf(c.program.map_args).join(', '));
      setMapArgs(JSON.stringify(c.program.map_args ?? null));
      setObjectFile(c.program.object_file ?? '');
      setEntry(c.program.entry_function_name ?? '');
      setMapName(c.program.map_name ?? '');
    }
  };

  const submit = () => {
    try {
      if (!choice) {
        throw new ChangeError('Nothing to add.');
      }
      const seq_id = Number(seq);
      if (!Number.isInteger(seq_id) || seq_id < 0) {
        throw new ChangeError(`seq_id "${seq}" must be a whole number (0 or more)`);
      }
      let map_args = parseMapArgs(mapArgs);
      const summary = [`${choice.program.name} ${version} on ${direction} at seq_id ${seq_id}`];
      if (isRatelimiting(choice.program)) {
        const r = parseRate(rate);
        const ps = parsePorts(ports);
        map_args = withMapKeys(withMapArg(map_args, RL_CONFIG_MAP, 0, r), RL_PORTS_MAP, ps);
        summary.push(`rate ${r} per second on ports ${ps.join(', ') || 'none'}`);
      }
      const prog_type = direction === 'xdp_ingress' ? 'xdp' : 'tc';
      if (objectFile.trim() === '' || entry.trim() === '') {
        throw new ChangeError(
          'object file and entry function are required (they name the ELF object in the package and its program)'
        );
      }
      onSubmit({
        direction,
        program: {
          ...choice.program,
          version,
          seq_id,
          map_args,
          prog_type,
          object_file: objectFile.trim(),
          entry_function_name: entry.trim(),
          map_name: mapName.trim(),
        },
        summary,
      });
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };

  return (
    <Modal title="Add a program" isOpen onDismiss={onDismiss}>
      <div data-testid="add-form">
        {packagesError !== undefined ? (
          <Alert
            title="The agent could not list its repository"
            severity="warning"
            data-testid="repository-listing-error"
          >
            {packagesError} — the programs below are the packages this project ships.
          </Alert>
        ) : packages === undefined ? (
          <Alert title="This agent does not list its repository" severity="info" data-testid="no-repository-listing">
            The agent has no GET /l3af/packages, so the programs below are the packages this project ships. The agent
            fetches the package from its configured repository when you add it.
          </Alert>
        ) : packages.length === 0 ? (
          <Alert title="The agent's repository is empty" severity="warning" />
        ) : null}
        <Field
          label="Program"
          description={packages ? `From the agent's repository (${packages.length} packages)` : undefined}
        >
          <div data-testid="add-choice">
            <RadioButtonGroup
              options={choices.map((c, i) => ({ label: c.label, value: i }))}
              value={index}
              onChange={(i) => pick(i)}
            />
          </div>
        </Field>
        <Field label="Direction">
          <RadioButtonGroup
            options={[
              { label: 'XDP ingress', value: 'xdp_ingress' },
              { label: 'TC ingress', value: 'tc_ingress' },
              { label: 'TC egress', value: 'tc_egress' },
            ]}
            value={direction}
            onChange={(d) => {
              setDirection(d as ChainDirection);
              setSeq(String(nextSeq(d as ChainDirection)));
            }}
          />
        </Field>
        <Stack direction="row" gap={2}>
          <Field label="Version">
            <Input
              data-testid="add-version"
              value={version}
              onChange={(e) => setVersion(e.currentTarget.value)}
              width={20}
            />
          </Field>
          <Field label="seq_id" description="Position in the chain">
            <Input data-testid="add-seq" value={seq} onChange={(e) => setSeq(e.currentTarget.value)} width={10} />
          </Field>
        </Stack>
        <Stack direction="row" gap={2}>
          <Field label="Object file" description="ELF object in the package">
            <Input
              data-testid="add-object-file"
              value={objectFile}
              onChange={(e) => setObjectFile(e.currentTarget.value)}
              width={26}
            />
          </Field>
          <Field label="Entry function">
            <Input data-testid="add-entry" value={entry} onChange={(e) => setEntry(e.currentTarget.value)} width={26} />
          </Field>
          <Field label="Next-program map" description="its PROG_ARRAY (empty: none)">
            <Input
              data-testid="add-map-name"
              value={mapName}
              onChange={(e) => setMapName(e.currentTarget.value)}
              width={26}
            />
          </Field>
        </Stack>
        {choice && isRatelimiting(choice.program) ? (
          <Stack direction="row" gap={2}>
            <Field label="Rate (connections per second)">
              <Input data-testid="add-rate" value={rate} onChange={(e) => setRate(e.currentTarget.value)} width={20} />
            </Field>
            <Field label="Ports" description="comma separated">
              <Input
                data-testid="add-ports"
                value={ports}
                onChange={(e) => setPorts(e.currentTarget.value)}
                width={30}
              />
            </Field>
          </Stack>
        ) : (
          <Field label="map_args" description="JSON list of {name, args: [{key, value}]}, or null">
            <TextArea
              data-testid="add-map-args"
              rows={4}
              value={mapArgs}
              onChange={(e) => setMapArgs(e.currentTarget.value)}
            />
          </Field>
        )}
        {error && (
          <Alert title="Cannot add" severity="error" data-testid="form-error">
            {error}
          </Alert>
        )}
        <Modal.ButtonRow>
          <Button variant="secondary" onClick={onDismiss}>
            Cancel
          </Button>
          <Button data-testid="add-submit" onClick={submit}>
            Review
          </Button>
        </Modal.ButtonRow>
      </div>
    </Modal>
  );
}
