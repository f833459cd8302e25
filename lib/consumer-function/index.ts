export * from './consumer-function';
