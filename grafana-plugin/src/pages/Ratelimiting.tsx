/** Ratelimiting: a Scenes page of PromQL panels against a Prometheus data source. */
import React, { useMemo } from 'react';
import { PluginPage } from '@grafana/runtime';
import { Alert } from '@grafana/ui';
import { usePluginSettings } from '../components/PluginContext';
import { ratelimitingScene } from './ratelimitingScene';

export default function Ratelimiting() {
  const { jsonData } = usePluginSettings();
  const scene = useMemo(() => ratelimitingScene(jsonData.prometheusUid), [jsonData.prometheusUid]);
  return (
    <PluginPage>
      <div data-testid="page-ratelimiting">
        <Alert title="Where these numbers come from" severity="info">
          Prometheus scraping each agent&apos;s metrics endpoint: rl_recv_count_map (candidates), rl_drop_count_map
          (drops) and rl_config_map[0] (the configured rate, when the program monitors it) of every ratelimiting
          program.
        </Alert>
        <scene.Component model={scene} />
      </div>
    </PluginPage>
  );
}
