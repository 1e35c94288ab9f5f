/** Events: the agent's live event stream (`GET /l3af/events`, SSE), e.g. ratelimiting drops as they happen. */
import React, { useEffect, useRef, useState } from 'react';
import { useSearchParams } from 'react-router-dom';
import { PluginPage } from '@grafana/runtime';
import { Alert, Badge, Button, Field, Input, Stack } from '@grafana/ui';
import { AgentClient } from '../api/client';
import { readEventStream, type SseEvent, type StreamEnd } from '../api/sse';
import { AgentPicker, NoAgents } from '../components/AgentPicker';
import { usePluginSettings } from '../components/PluginContext';

/** How many events the page keeps. */
const KEEP = 200;

/** One line of text for an event's data (drops get their addresses and counters). */
export function describeEvent(e: SseEvent): string {
  let d: Record<string, unknown>;
  try {
    d = JSON.parse(e.data) as Record<string, unknown>;
  } catch {
    return e.data;
  }
  const inner = (d.data ?? {}) as Record<string, unknown>;
  if (e.type === 'ratelimiting.drop') {
    return `${String(d.iface)} ${String(d.program)}: dropped ${String(inner.saddr)}:${String(inner.sport)} → ${String(inner.daddr)}:${String(
      inner.dport
    )} (rate ${String(inner.rate)}/s, ${String(inner.drops)} drops so far)`;
  }
  if (e.type === 'stats') {
    return `stream: ${String(d.delivered)} delivered, ${String(d.dropped)} dropped`;
  }
  return e.data;
}

function endMessage(
  end: StreamEnd,
  agent: string
): { severity: 'error' | 'warning' | 'info'; title: string; text: string } {
  if (end.status === 404) {
    return { severity: 'warning', title: 'No event stream', text: `${agent} does not offer GET /l3af/events.` };
  }
  if (end.status === 403) {
    return { severity: 'error', title: 'Permission refused (403)', text: end.message ?? '' };
  }
  if (end.status === 502 || end.status === 504 || end.status === 0) {
    return {
      severity: 'error',
      title: 'Agent not reachable',
      text: `${agent} did not answer${end.message ? `: ${end.message}` : ''}.`,
    };
  }
  if (end.reason === 'closed') {
    return { severity: 'info', title: 'Stream ended', text: `${agent} closed the stream.` };
  }
  return { severity: 'error', title: `Stream failed (${end.status})`, text: end.message ?? '' };
}

export default function Events() {
  const { agents } = usePluginSettings();
  const [params, setParams] = useSearchParams();
  const agent = agents.find((a) => a.name === params.get('agent')) ?? agents[0];
  const [iface, setIface] = useState(params.get('iface') ?? '');
  const [program, setProgram] = useState('');
  const [live, setLive] = useState(false);
  const [events, setEvents] = useState<SseEvent[]>([]);
  const [stats, setStats] = useState<string>();
  const [end, setEnd] = useState<StreamEnd>();
  const [open, setOpen] = useState(false);
  const abort = useRef<AbortController>();

  useEffect(() => {
    if (!live || !agent) {
      return;
    }
    const ctl = new AbortController();
    abort.current = ctl;
    const url = new AgentClient(agent).eventsUrl({ iface: iface || undefined, program: program || undefined });
    void readEventStream(
      url,
      (e) => {
        if (e.type === 'stats') {
          setStats(describeEvent(e));
        } else {
          setEvents((list) => [e, ...list].slice(0, KEEP));
        }
      },
      { signal: ctl.signal, onOpen: (s) => setOpen(s >= 200 && s < 300) }
    ).then((r) => {
      if (r.reason !== 'aborted') {
        setEnd(r);
        setLive(false);
      }
      setOpen(false);
    });
    return () => ctl.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [live, agent?.name, agent?.url]);

  if (!agent) {
    return (
      <PluginPage>
        <NoAgents />
      </PluginPage>
    );
  }
  const msg = end ? endMessage(end, agent.name) : undefined;
  return (
    <PluginPage>
      <div data-testid="page-events">
        <Stack direction="column" gap={2}>
          <Field label="Agent">
            <AgentPicker
              agents={agents}
              value={agent.name}
              onChange={(v) => {
                setLive(false);
                setEvents([]);
                setParams({ agent: v }, { replace: true });
              }}
            />
          </Field>
          <Stack direction="row" gap={1}>
            <Field label="Interface (optional)">
              <Input
                value={iface}
                width={20}
                disabled={live}
                onChange={(e) => setIface(e.currentTarget.value)}
                data-testid="events-iface"
              />
            </Field>
            <Field label="Program (optional)">
              <Input value={program} width={20} disabled={live} onChange={(e) => setProgram(e.currentTarget.value)} />
            </Field>
          </Stack>
          <Stack direction="row" gap={1} alignItems="center">
            <Button
              data-testid="events-toggle"
              icon={live ? 'pause' : 'play'}
              onClick={() => {
                if (live) {
                  abort.current?.abort();
                  setLive(false);
                } else {
                  setEnd(undefined);
                  setOpen(false);
                  setLive(true);
                }
              }}
            >
              {live ? 'Stop' : 'Start'}
            </Button>
            <Button variant="secondary" onClick={() => setEvents([])}>
              Clear
            </Button>
            {live && (
              <Badge text={open ? 'live' : 'connecting…'} color={open ? 'green' : 'blue'} data-testid="events-live" />
            )}
            {stats && <span data-testid="events-stats">{stats}</span>}
          </Stack>
          {msg && (
            <Alert title={msg.title} severity={msg.severity} data-testid="events-end">
              {msg.text}
            </Alert>
          )}
          {events.length === 0 ? (
            <div data-testid="events-empty">
              {live
                ? 'Waiting for events… (ratelimiting reports drops only while rl_config_map[2] > 0)'
                : 'Press Start to follow the stream.'}
            </div>
          ) : (
            <table className="filter-table" data-testid="events-table">
              <thead>
                <tr>
                  <th>#</th>
                  <th>type</th>
                  <th>event</th>
                </tr>
              </thead>
              <tbody>
                {events.map((e, i) => (
                  <tr key={`${e.id ?? ''}-${i}`} data-testid="event-row">
                    <td>{e.id}</td>
                    <td>{e.type}</td>
                    <td>{describeEvent(e)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </Stack>
      </div>
    </PluginPage>
  );
}
