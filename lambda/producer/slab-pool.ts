/**
 * Memory for aggregates, kept from one write to the next. A write takes a `SlabLease`; each
 * request it plans gets one slab from it (a buffer the size of all its aggregates together, each
 * aggregate a view of it), and the write gives the lease back once nothing will read its entries
 * again: then the slabs go back to the pool for the next write. A slab is lent to one lease at a
 * time; a lease never given back leaves its slabs to the garbage collector, not to the pool.
 *
 * Why: a request's aggregates are megabytes of fresh memory on every invocation otherwise. glibc
 * returns freed memory to the system and maps it again page by page, and V8 counts every new
 * buffer as external memory, which triggers collections (measured in docs/performance-producer.md).
 */
export class SlabPool {
  private readonly free: Buffer[] = [];
  private freeBytes = 0;

  /**
   * @param maxPooledBytes the most memory kept between writes; beyond it the smallest slabs given
   * back are left to the garbage collector (the largest serves any request up to its size).
   * @param minSlabBytes the smallest slab made. A slab is made a power of two in size, so requests
   * of slightly different sizes share one; pages of it never written are never mapped.
   */
  public constructor(
    public readonly maxPooledBytes = 64 * 1024 * 1024,
    public readonly minSlabBytes = 64 * 1024,
  ) {}

  /** A lease to plan one write's requests in. */
  public lease(): SlabLease {
    return new SlabLease(this);
  }

  /** Bytes kept for the next writes now. */
  public get pooledBytes(): number {
    return this.freeBytes;
  }

  /** The smallest free slab of at least `bytes`, taken out of the pool; a new one if none fits. */
  public take(bytes: number): Buffer {
    let best = -1;
    for (let i = 0; i < this.free.length; i++) {
      if (this.free[i].length >= bytes && (best < 0 || this.free[i].length < this.free[best].length)) {
        best = i;
      }
    }
    if (best >= 0) {
      const slab = this.free[best];
      this.free[best] = this.free[this.free.length - 1];
      this.free.pop();
      this.freeBytes -= slab.length;
      return slab;
    }
    // Its own memory (not Node.js's shared 8 KiB pool): every slab is a whole buffer.
    let size = this.minSlabBytes;
    while (size < bytes) {
      size *= 2;
    }
    return Buffer.allocUnsafeSlow(size);
  }

  /** Slabs back from a lease given back: kept up to `maxPooledBytes`. */
  public give(slabs: readonly Buffer[]): void {
    for (const slab of slabs) {
      this.free.push(slab);
      this.freeBytes += slab.length;
    }
    if (this.freeBytes > this.maxPooledBytes) {
      this.free.sort((a, b) => b.length - a.length);
      while (this.freeBytes > this.maxPooledBytes) {
        this.freeBytes -= this.free.pop()!.length;
      }
    }
  }
}

/** The slabs one write plans its requests in; `release` when nothing reads its entries any more. */
export class SlabLease {
  private readonly slabs: Buffer[] = [];
  private released = false;

  public constructor(private readonly pool: SlabPool) {}

  /** A slab of at least `bytes` for one request's aggregates, lent until `release`. */
  public slab(bytes: number): Buffer {
    if (this.released) {
      throw new Error('slab lease used after it was given back');
    }
    const slab = this.pool.take(bytes);
    this.slabs.push(slab);
    return slab;
  }

  /** Gives every slab back to the pool: the caller's promise that no entry planned in them is read again. Once only; later calls do nothing. */
  public release(): void {
    if (this.released) {
      return;
    }
    this.released = true;
    this.pool.give(this.slabs);
    this.slabs.length = 0;
  }
}

/** The container's pool: its slabs outlive invocations. */
export const SLABS = new SlabPool();
