import { rememberedHashKeyOf } from '../shared/hash-key';
import { KPL_FRAME_BYTES, keyFieldSize, recordFieldSize } from '../shared/kpl-codec';
import type { ProducerLimits } from './limits';

/**
 * The outer partition key of the Kinesis records that carry a user record.
 *
 * Lambda, with a parallelization factor above 1, keeps order per Kinesis-record partition key,
 * and a KPL aggregate has one. So every record of one user partition key must travel under the
 * same outer key, in every request, from every producer container, at any time. The producer
 * gives each user key one of G ordering groups, a fixed function of the key (the hash key
 * Kinesis gives it, MD5, modulo G), and sends every aggregate under its group's key: an
 * aggregate holds records of one shard and one group, routed to the shard by its
 * ExplicitHashKey. A record that would go alone goes as a one-record aggregate under its
 * group's key, routed by its own hash key (where Kinesis would route the record itself).
 *
 * With aggregation off (`maxRecordsPerAggregate` 1) every record goes raw under its own key,
 * which keeps order too. With G = 0 aggregates travel under their first record's key, as the
 * KPL does: order per user key is then not kept under a parallelization factor above 1.
 */
export type OrderingSettings = Pick<ProducerLimits, 'orderingGroups' | 'maxRecordsPerAggregate'>;

/** Whether aggregates (and lone records) travel under ordering-group keys. */
export function groupsOn(settings: OrderingSettings): boolean {
  return settings.orderingGroups > 0 && settings.maxRecordsPerAggregate > 1;
}

/** The ordering group (0 to `groups` - 1) of a user key whose hash key is `hashKey`. */
export function groupOf(hashKey: bigint, groups: number): number {
  return Number(hashKey % BigInt(groups));
}

const GROUP_KEYS: string[] = [];

/** The outer partition key of ordering group `group`: `og-<group>`. */
export function groupKey(group: number): string {
  return (GROUP_KEYS[group] ??= `og-${group}`);
}

/**
 * The outer partition key every Kinesis record carrying records of `partitionKey` has: its
 * group's key; the key itself when aggregation is off; undefined when G = 0 (no fixed one).
 */
export function outerKeyOf(partitionKey: string, settings: OrderingSettings): string | undefined {
  if (settings.maxRecordsPerAggregate <= 1) {
    return partitionKey;
  }
  if (settings.orderingGroups <= 0) {
    return undefined;
  }
  return groupKey(groupOf(rememberedHashKeyOf(partitionKey), settings.orderingGroups));
}

/** A user record's sizes, in bytes (UTF-8 for the keys). */
export interface RecordSizes {
  readonly partitionKeyBytes: number;
  /** 0 when the record has no explicit hash key. */
  readonly explicitHashKeyBytes: number;
  readonly dataBytes: number;
}

/** Bytes of a one-record KPL aggregate holding a record of these sizes (magic, protobuf, MD5). */
export function loneAggregateBytes(sizes: RecordSizes): number {
  const hasHashKey = sizes.explicitHashKeyBytes > 0;
  return (
    KPL_FRAME_BYTES +
    keyFieldSize(sizes.partitionKeyBytes) +
    (hasHashKey ? keyFieldSize(sizes.explicitHashKeyBytes) : 0) +
    recordFieldSize(0, hasHashKey ? 0 : -1, sizes.dataBytes)
  );
}

/** Bytes of the longest group key of G groups. */
export function longestGroupKeyBytes(groups: number): number {
  return groupKey(Math.max(0, groups - 1)).length;
}
