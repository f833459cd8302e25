export * from './producer-function';
