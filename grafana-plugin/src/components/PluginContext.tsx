/** The app's settings (from Grafana's plugin meta) for every page below the root. */
import React, { createContext, useContext, useMemo } from 'react';
import type { AppRootProps } from '@grafana/data';
import { agentsOf, type AgentRef, type AppJsonData } from '../api/settings';

interface PluginSettings {
  agents: AgentRef[];
  jsonData: AppJsonData;
}

const Ctx = createContext<PluginSettings>({ agents: [], jsonData: {} });

/** Provides the settings of `meta` to the pages. */
export function PluginSettingsProvider({ meta, children }: { meta: AppRootProps['meta']; children: React.ReactNode }) {
  const raw = meta.jsonData;
  const value = useMemo(() => {
    const jsonData = (raw ?? {}) as AppJsonData;
    return { agents: agentsOf(jsonData), jsonData };
  }, [raw]);
  return <Ctx.Provider value={value}>{children}</Ctx.Provider>;
}

/** The configured agents and the rest of jsonData. */
export function usePluginSettings(): PluginSettings {
  return useContext(Ctx);
}
