import React from 'react';
import { Navigate, Route, Routes } from 'react-router-dom';
import type { AppRootProps } from '@grafana/data';
import { ROUTES } from '../../constants';
import { PluginSettingsProvider } from '../PluginContext';

const Fleet = React.lazy(() => import('../../pages/Fleet'));
const Chains = React.lazy(() => import('../../chains/ChainsPage'));
const Ratelimiting = React.lazy(() => import('../../pages/Ratelimiting'));
const Events = React.lazy(() => import('../../pages/Events'));
const Rollout = React.lazy(() => import('../../pages/Rollout'));
const Discover = React.lazy(() => import('../../pages/Discover'));

/** The app's root: one route per page, the settings in context. */
function App(props: AppRootProps) {
  return (
    <PluginSettingsProvider meta={props.meta}>
      <React.Suspense fallback={null}>
        <Routes>
          <Route path={ROUTES.Fleet} element={<Fleet />} />
          <Route path={ROUTES.Chains} element={<Chains />} />
          <Route path={ROUTES.Ratelimiting} element={<Ratelimiting />} />
          <Route path={ROUTES.Events} element={<Events />} />
          <Route path={ROUTES.Rollout} element={<Rollout />} />
          <Route path={ROUTES.Discover} element={<Discover />} />
          <Route path="*" element={<Navigate to={ROUTES.Fleet} replace />} />
        </Routes>
      </React.Suspense>
    </PluginSettingsProvider>
  );
}

export default App;
