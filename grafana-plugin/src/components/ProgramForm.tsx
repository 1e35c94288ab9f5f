/**
 * The program form of the Chains page, one component for both uses: `add` a program from the agent's repository
 * listing (or the packages this project ships), `edit` a program's start_args / map_args. Program-specific fields
 * (ratelimiting's rate and ports) come from the package's description of its settings (api/catalogue), rendered
 * and validated generically (api/package-settings).
 */
import React, { useMemo, useState } from 'react';
import { Alert, Button, Field, Input, Modal, RadioButtonGroup, Stack, TextArea } from '@grafana/ui';
import { ChangeError, parseArgs, parseMapArgs } from '../api/chain-ops';
import { TEMPLATES, settingsOf, type DescribedPackage, type ProgramTemplate } from '../api/catalogue';
import { applySettings, settingText, type PackageSetting } from '../api/package-settings';
import type { BpfProgram, ChainDirection, GetProgram, MapArg, ProgramArgs } from '../api/types';

/** What the edit form produces. */
export interface ArgsEdit {
  start_args: ProgramArgs;
  map_args: MapArg[] | null;
  /** One line per change, for the confirmation. */
  summary: string[];
}

/** What the add form produces. */
export interface AddRequest {
  direction: ChainDirection;
  program: BpfProgram;
  summary: string[];
}

/** A choice of the add form: a package from the agent's repository, or a shipped template. */
interface Choice {
  label: string;
  direction: ChainDirection;
  program: BpfProgram;
  settings: PackageSetting[];
}

/** Chain roots are the agent's own business, not something a user adds. */
const isRoot = (name: string) => /-root$/.test(name);

/** The add form's choices: the repository's packages (roots left out, `latest` first), else the templates. */
export function choicesOf(packages: DescribedPackage[] | undefined): Choice[] {
  if (!packages) {
    return TEMPLATES.map((t: ProgramTemplate) => ({
      label: t.label,
      direction: t.direction,
      program: t.program,
      settings: t.settings ?? [],
    }));
  }
  return packages
    .filter((p) => !isRoot(p.name))
    .sort(
      (a, b) =>
        a.name.localeCompare(b.name) ||
        (a.version === 'latest' ? -1 : b.version === 'latest' ? 1 : b.version.localeCompare(a.version))
    )
    .map((p) => {
      const template = TEMPLATES.find((t) => t.program.name === p.name);
      const program: BpfProgram = {
        ...(template?.program ?? { admin_status: 'enabled' }),
        ...(p.program ?? {}),
        name: p.name,
        version: p.version,
        artifact: p.artifact,
        admin_status: 'enabled',
      };
      return {
        label: `${p.name} ${p.version}`,
        direction: template?.direction ?? 'xdp_ingress',
        program,
        settings: settingsOf(p, packages),
      };
    });
}

/** The texts of the setting fields for a program's map_args. */
const textsOf = (settings: PackageSetting[], args: MapArg[] | null | undefined, useInitial: boolean) =>
  Object.fromEntries(settings.map((s) => [s.id, settingText(s, args, useInitial)]));

/** A text input with its test id. */
function TextField(props: {
  id: string;
  label: string;
  description?: string;
  value: string;
  width?: number;
  onChange: (v: string) => void;
}) {
  return (
    <Field label={props.label} description={props.description}>
      <Input
        data-testid={props.id}
        value={props.value}
        width={props.width}
        onChange={(e) => props.onChange(e.currentTarget.value)}
      />
    </Field>
  );
}

/** The package's own settings, as plain fields. */
function SettingFields(props: {
  prefix: 'add' | 'edit';
  settings: PackageSetting[];
  texts: Record<string, string>;
  onChange: (id: string, v: string) => void;
}) {
  if (props.settings.length === 0) {
    return null;
  }
  return (
    <Stack direction="row" gap={2}>
      {props.settings.map((s) => (
        <TextField
          key={s.id}
          id={`${props.prefix}-${s.id}`}
          label={s.label}
          description={s.description}
          value={props.texts[s.id] ?? ''}
          width={s.kind === 'keys' ? 30 : 20}
          onChange={(v) => props.onChange(s.id, v)}
        />
      ))}
    </Stack>
  );
}

type Props =
  | {
      mode: 'edit';
      program: GetProgram;
      /** The agent's repository listing, for the program's settings (else the shipped descriptions). */
      packages?: DescribedPackage[];
      onDismiss: () => void;
      onSubmit: (edit: ArgsEdit) => void;
    }
  | {
      mode: 'add';
      /** The agent's repository listing, or undefined when the agent does not list it. */
      packages: DescribedPackage[] | undefined;
      /** Why the listing could not be read (the templates are offered instead). */
      packagesError?: string;
      nextSeq: (d: ChainDirection) => number;
      onDismiss: () => void;
      onSubmit: (req: AddRequest) => void;
    };

/** Add or edit a program (see the module's comment). */
export function ProgramForm(props: Props) {
  const choices = useMemo(() => (props.mode === 'add' ? choicesOf(props.packages) : []), [props.mode, props.packages]);
  const [index, setIndex] = useState(0);
  const choice = choices[index];
  const editSettings = useMemo(
    () => (props.mode === 'edit' ? settingsOf(props.program, props.packages) : []),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [props.mode === 'edit' ? props.program : undefined, props.packages]
  );
  const settings = props.mode === 'edit' ? editSettings : (choice?.settings ?? []);
  const start = props.mode === 'edit' ? props.program : choice?.program;

  const [texts, setTexts] = useState(() => textsOf(settings, start?.map_args, props.mode === 'add'));
  const [startArgs, setStartArgs] = useState(JSON.stringify(props.mode === 'edit' ? props.program.start_args : null));
  const [mapArgs, setMapArgs] = useState(
    props.mode === 'edit' ? JSON.stringify(props.program.map_args, null, 1) : JSON.stringify(start?.map_args ?? null)
  );
  const [direction, setDirection] = useState<ChainDirection>(choice?.direction ?? 'xdp_ingress');
  const [version, setVersion] = useState(start?.version ?? 'latest');
  const [seq, setSeq] = useState(props.mode === 'add' ? String(props.nextSeq(choice?.direction ?? 'xdp_ingress')) : '');
  const [objectFile, setObjectFile] = useState(start?.object_file ?? '');
  const [entry, setEntry] = useState(start?.entry_function_name ?? '');
  const [mapName, setMapName] = useState(start?.map_name ?? '');
  const [error, setError] = useState<string>();

  const pick = (i: number) => {
    const c = choices[i];
    setIndex(i);
    if (c && props.mode === 'add') {
      setDirection(c.direction);
      setVersion(c.program.version);
      setSeq(String(props.nextSeq(c.direction)));
      setTexts(textsOf(c.settings, c.program.map_args, true));
      setMapArgs(JSON.stringify(c.program.map_args ?? null));
      setObjectFile(c.program.object_file ?? '');
      setEntry(c.program.entry_function_name ?? '');
      setMapName(c.program.map_name ?? '');
    }
  };

  const submitEdit = (program: GetProgram, onSubmit: (e: ArgsEdit) => void) => {
    const start_args = parseArgs(startArgs);
    const applied = applySettings(settings, texts, parseMapArgs(mapArgs), program.map_args);
    const summary = [...applied.summary];
    if (JSON.stringify(start_args) !== JSON.stringify(program.start_args)) {
      summary.push(`start_args: ${JSON.stringify(program.start_args)} → ${JSON.stringify(start_args)}`);
    }
    if (JSON.stringify(applied.map_args) !== JSON.stringify(program.map_args) && summary.length === 0) {
      summary.push(`map_args: ${JSON.stringify(applied.map_args)}`);
    }
    if (summary.length === 0) {
      throw new ChangeError('Nothing changed.');
    }
    onSubmit({ start_args, map_args: applied.map_args, summary });
  };

  const submitAdd = (onSubmit: (r: AddRequest) => void) => {
    if (!choice) {
      throw new ChangeError('Nothing to add.');
    }
    const seq_id = Number(seq);
    if (!Number.isInteger(seq_id) || seq_id < 0) {
      throw new ChangeError(`seq_id "${seq}" must be a whole number (0 or more)`);
    }
    const applied = applySettings(settings, texts, parseMapArgs(mapArgs));
    const summary = [`${choice.program.name} ${version} on ${direction} at seq_id ${seq_id}`];
    if (applied.summary.length > 0) {
      summary.push(applied.summary.join(' on '));
    }
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
        map_args: applied.map_args,
        prog_type: direction === 'xdp_ingress' ? 'xdp' : 'tc',
        object_file: objectFile.trim(),
        entry_function_name: entry.trim(),
        map_name: mapName.trim(),
      },
      summary,
    });
  };

  const submit = () => {
    try {
      if (props.mode === 'edit') {
        submitEdit(props.program, props.onSubmit);
      } else {
        submitAdd(props.onSubmit);
      }
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };

  const prefix = props.mode;
  const setText = (id: string, v: string) => setTexts((t) => ({ ...t, [id]: v }));
  return (
    <Modal
      title={props.mode === 'edit' ? `Edit ${props.program.name}` : 'Add a program'}
      isOpen
      onDismiss={props.onDismiss}
    >
      <div data-testid={`${prefix}-form`}>
        {props.mode === 'add' && (
          <>
            <ListingNotice packages={props.packages} packagesError={props.packagesError} />
            <Field
              label="Program"
              description={
                props.packages ? `From the agent's repository (${props.packages.length} packages)` : undefined
              }
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
                  setSeq(String(props.nextSeq(d as ChainDirection)));
                }}
              />
            </Field>
            <Stack direction="row" gap={2}>
              <TextField id="add-version" label="Version" value={version} width={20} onChange={setVersion} />
              <TextField
                id="add-seq"
                label="seq_id"
                description="Position in the chain"
                value={seq}
                width={10}
                onChange={setSeq}
              />
            </Stack>
            <Stack direction="row" gap={2}>
              <TextField
                id="add-object-file"
                label="Object file"
                description="ELF object in the package"
                value={objectFile}
                width={26}
                onChange={setObjectFile}
              />
              <TextField id="add-entry" label="Entry function" value={entry} width={26} onChange={setEntry} />
              <TextField
                id="add-map-name"
                label="Next-program map"
                description="its PROG_ARRAY (empty: none)"
                value={mapName}
                width={26}
                onChange={setMapName}
              />
            </Stack>
          </>
        )}
        <SettingFields prefix={prefix} settings={settings} texts={texts} onChange={setText} />
        {props.mode === 'edit' && (
          <TextField
            id="edit-start-args"
            label="start_args"
            description='JSON object of --name=value arguments, or null (e.g. {"verbose": true})'
            value={startArgs}
            onChange={setStartArgs}
          />
        )}
        {(props.mode === 'edit' || settings.length === 0) && (
          <Field
            label="map_args"
            description={
              settings.length > 0
                ? 'Edited by the fields above for their maps; other maps here'
                : 'JSON list of {name, args: [{key, value}]}, or null'
            }
          >
            <TextArea
              data-testid={`${prefix}-map-args`}
              rows={props.mode === 'edit' ? 6 : 4}
              value={mapArgs}
              onChange={(e) => setMapArgs(e.currentTarget.value)}
            />
          </Field>
        )}
        {error && (
          <Alert
            title={props.mode === 'edit' ? 'Cannot apply' : 'Cannot add'}
            severity="error"
            data-testid="form-error"
          >
            {error}
          </Alert>
        )}
        <Modal.ButtonRow>
          <Button variant="secondary" onClick={props.onDismiss}>
            Cancel
          </Button>
          <Button data-testid={`${prefix}-submit`} onClick={submit}>
            {props.mode === 'edit' ? 'Review change' : 'Review'}
          </Button>
        </Modal.ButtonRow>
      </div>
    </Modal>
  );
}

/** Where the add form's programs come from, when not from the agent's listing. */
function ListingNotice({ packages, packagesError }: { packages?: DescribedPackage[]; packagesError?: string }) {
  if (packagesError !== undefined) {
    return (
      <Alert title="The agent could not list its repository" severity="warning" data-testid="repository-listing-error">
        {packagesError} — the programs below are the packages this project ships.
      </Alert>
    );
  }
  if (packages === undefined) {
    return (
      <Alert title="This agent does not list its repository" severity="info" data-testid="no-repository-listing">
        The agent has no GET /l3af/packages, so the programs below are the packages this project ships. The agent
        fetches the package from its configured repository when you add it.
      </Alert>
    );
  }
  return packages.length === 0 ? <Alert title="The agent's repository is empty" severity="warning" /> : null;
}
