/**
 * The order a request's entries go in, per cell: a cell is what one user key's records share,
 * (shard, ordering group) with ordering groups, (shard, partition key) when every record goes raw,
 * the whole shard when aggregates travel under their first record's key; and, for entries planned
 * key by key, their lane (entries of different lanes share no user key). Two rules keep each
 * user key's records in the stream in request order whatever fails:
 *
 * - at most one entry of a cell is in flight at once (a PutRecords request fails entries one by
 *   one: a later entry of the cell in the same or a parallel request could be stored before an
 *   earlier one that is throttled and retried);
 * - a cell's next entry goes only after the one before is acknowledged (or failed for good).
 *
 * A failed head waits out its backoff; other cells go on meanwhile. Pure: no I/O, no clock of its own.
 */
export interface CellError {
  readonly code: string;
  readonly message?: string;
}

interface Cell<E> {
  readonly entries: E[];
  /** Position of the head in `entries`. */
  head: number;
  inFlight: boolean;
  /** Consecutive retryable failures of the head; the next try waits until `readyAt`. */
  failures: number;
  readyAt: number;
  lastError?: CellError;
}

export class CellSchedule<E> {
  private readonly cells = new Map<string, Cell<E>>();
  private left = 0;

  /** `entries` in the order they were planned; `orderOf` orders a cell's entries (its first user record's request index, or its place in the plan). */
  public constructor(entries: readonly E[], cellOf: (entry: E) => string, orderOf: (entry: E) => number) {
    for (const entry of entries) {
      const key = cellOf(entry);
      let cell = this.cells.get(key);
      if (cell === undefined) {
        cell = { entries: [], head: 0, inFlight: false, failures: 0, readyAt: 0 };
        this.cells.set(key, cell);
      }
      cell.entries.push(entry);
      this.left++;
    }
    for (const cell of this.cells.values()) {
      // Stable: a cell's aggregates are planned in order already; lone re-sends fall in by index.
      cell.entries.sort((a, b) => orderOf(a) - orderOf(b));
    }
  }

  /** Entries not yet acknowledged or dropped. */
  public get size(): number {
    return this.left;
  }

  /** The head entry of every cell that is not in flight and whose backoff is over at `now`; they are in flight from now. */
  public take(now: number): Array<{ cell: string; entry: E }> {
    const out: Array<{ cell: string; entry: E }> = [];
    for (const [key, cell] of this.cells) {
      if (!cell.inFlight && cell.head < cell.entries.length && cell.readyAt <= now) {
        cell.inFlight = true;
        out.push({ cell: key, entry: cell.entries[cell.head] });
      }
    }
    return out;
  }

  /** Earliest time a cell with entries left and none in flight is ready, or undefined if there is none. */
  public nextReadyAt(): number | undefined {
    let next: number | undefined;
    for (const cell of this.cells.values()) {
      if (!cell.inFlight && cell.head < cell.entries.length && (next === undefined || cell.readyAt < next)) {
        next = cell.readyAt;
      }
    }
    return next;
  }

  /** The head of `cell` is acknowledged (or failed for good): the next entry of the cell may go. */
  public done(key: string): void {
    const cell = this.cells.get(key)!;
    cell.inFlight = false;
    cell.head++;
    cell.failures = 0;
    cell.readyAt = 0;
    this.left--;
  }

  /** The head of `cell` failed and is tried again no sooner than `readyAt`; returns its failures so far. */
  public retry(key: string, readyAt: number, error: CellError): number {
    const cell = this.cells.get(key)!;
    cell.inFlight = false;
    cell.failures++;
    cell.readyAt = readyAt;
    cell.lastError = error;
    return cell.failures;
  }

  /** The head of `cell` was not sent (no time left): it stays, as it was. */
  public unsent(key: string): void {
    this.cells.get(key)!.inFlight = false;
  }

  /** Consecutive failures of the cell's head so far. */
  public failures(key: string): number {
    return this.cells.get(key)!.failures;
  }

  /** Every entry left, cell by cell in order, with the last error its cell's head got; the schedule is empty after. */
  public drain(): Array<{ entry: E; error?: CellError }> {
    const out: Array<{ entry: E; error?: CellError }> = [];
    for (const cell of this.cells.values()) {
      for (let i = cell.head; i < cell.entries.length; i++) {
        out.push({ entry: cell.entries[i], ...(cell.lastError ? { error: cell.lastError } : {}) });
      }
      cell.head = cell.entries.length;
      cell.inFlight = false;
    }
    this.left = 0;
    return out;
  }
}
