import React from 'react';
import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import type { AppPluginMeta, PluginMeta } from '@grafana/data';
import AppConfig, { type AppConfigProps } from './AppConfig';
import { fakeBackend } from '../../test/backend';
import type { AppJsonData } from '../../api/settings';

function props(jsonData: AppJsonData): AppConfigProps {
  return {
    plugin: {
      meta: { id: 'l3af-chains-app', enabled: true, pinned: true, jsonData } as unknown as AppPluginMeta<AppJsonData>,
    },
    query: {},
  } as unknown as AppConfigProps;
}

describe('AppConfig', () => {
  it('lists the configured agents and saves them with one route URL per slot', async () => {
    const { calls } = fakeBackend(() => ({ status: 200, data: {} }));
    render(<AppConfig {...props({ agents: [{ name: 'a', url: 'http://a:53000' }] })} />);
    expect(screen.getByTestId('agent-name-0')).toHaveValue('a');
    fireEvent.click(screen.getByTestId('agent-add'));
    fireEvent.change(screen.getByTestId('agent-name-1'), { target: { value: 'b' } });
    fireEvent.change(screen.getByTestId('agent-url-1'), { target: { value: 'http://b:53000/' } });
    fireEvent.click(screen.getByTestId('config-save'));
    expect(await screen.findByTestId('config-saved')).toBeInTheDocument();
    expect(calls).toHaveLength(1);
    expect(calls[0]?.url).toBe('/api/plugins/l3af-chains-app/settings');
    const data = calls[0]?.data as Partial<PluginMeta<AppJsonData>>;
    expect(data.jsonData?.agents).toEqual([
      { name: 'a', url: 'http://a:53000' },
      { name: 'b', url: 'http://b:53000' },
    ]);
    expect(data.jsonData?.agent0Url).toBe('http://a:53000');
    expect(data.jsonData?.agent1Url).toBe('http://b:53000');
  });

  it('refuses to save an invalid list and says why', async () => {
    const { calls } = fakeBackend(() => ({ status: 200, data: {} }));
    render(<AppConfig {...props({})} />);
    fireEvent.click(screen.getByTestId('agent-add'));
    fireEvent.change(screen.getByTestId('agent-url-0'), { target: { value: 'localhost' } });
    fireEvent.click(screen.getByTestId('config-save'));
    const problems = await screen.findByTestId('config-problems');
    expect(problems).toHaveTextContent('agent 1: name is required');
    expect(problems).toHaveTextContent('agent 1: URL "localhost" is not a URL');
    await waitFor(() => expect(calls).toHaveLength(0));
  });
});
