export * from './lease-table';
