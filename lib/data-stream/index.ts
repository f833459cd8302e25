export * from './data-stream';
export * from './capacity';
