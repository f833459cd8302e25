/**
 * The user's processor module. ConsumerFunction's esbuild alias maps this specifier to its
 * `processorEntry`, so the handler imports whatever module the user named, from any folder.
 */
declare module 'kinesis-pipeline-processor' {
  export const processRecord: import('./consumer').RecordProcessor;
}
