/**
 * The codec micro-benchmark's contenders, bundled together as the constructs bundle a handler
 * (bench/bundle.ts): our packer and decoder, aws-kinesis-agg's aggregate and deaggregateSync. Run
 * from the TypeScript sources through tsx instead, every call across our modules goes through a
 * CommonJS export getter, which the bundled handler does not have.
 */
export { planEntries } from '../../lambda/producer/aggregate';
export { SlabPool } from '../../lambda/producer/slab-pool';
export { checksumsMatch, decodeCheckedAggregate } from '../../lambda/shared/kpl-codec';
export { md5Each } from '../../lambda/shared/md5-lanes';
export { aggregate, deaggregateSync } from 'aws-kinesis-agg';
