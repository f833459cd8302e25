export { DashboardWidgets } from './dashboard';
export * from './monitored-parts';
export * from './pipeline-monitoring';
