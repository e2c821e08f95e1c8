import type { Logger } from '../observability/logger.js';
import { diffTenantSets, TenantSet } from './tenant-set.js';
import { type ParseResult, tenantsFileReader } from './tenants-file.js';

export interface ReloadStatus {
  readonly at: Date;
  readonly ok: boolean;
  /** Tenants served after this load: the new set on success, the kept one on failure. */
  readonly tenantCount: number;
  readonly problems: readonly string[];
  /** Read, validate, build and (if it served) swap: the `tenants reloaded` line's durationMs. */
  readonly durationMs: number;
}

export interface RegistryOptions {
  file: string;
  logger: Logger;
  /**
   * Called after a successful swap (and once after the initial load by the caller if it wishes);
   * errors are logged, never undo the swap. A reload resolves only after it returns.
   */
  onSwap?: (next: TenantSet, previous: TenantSet | undefined) => Promise<void> | void;
  /**
   * Checks a valid set against the world before it serves (the tiers: tiers/tiers.ts); any
   * problem refuses the reload like an invalid file. The caller runs it for the initial set.
   */
  check?: (next: TenantSet) => Promise<readonly string[]>;
  /**
   * Reads and validates the file. Tests inject one to count reads.
   * @default tenantsFileReader(): each read validates only the entries that changed since the last valid one
   */
  read?: (file: string) => Promise<ParseResult>;
}

export type OpenResult = { ok: true; registry: TenantRegistry } | { ok: false; problems: string[] };

const status = (
  ok: boolean,
  tenantCount: number,
  problems: readonly string[] = [],
  durationMs = 0,
): ReloadStatus =>
  Object.freeze({ at: new Date(), ok, tenantCount, problems: Object.freeze([...problems]), durationMs });

const since = (started: number) => Math.round((performance.now() - started) * 10) / 10;

/**
 * Holds the current tenant set and reloads it the way jose reloads a remote JWKS:
 * one reload in flight, the whole next set built before one reference is swapped,
 * and the old set kept when the new file is bad.
 */
export class TenantRegistry {
  readonly #options: RegistryOptions;
  readonly #read: (file: string) => Promise<ParseResult>;
  #current: TenantSet;
  #status: ReloadStatus;
  /** The reload running now. */
  #active: Promise<ReloadStatus> | undefined;
  /** The one reload queued behind it, shared by every call that arrived meanwhile. */
  #queued: Promise<ReloadStatus> | undefined;
  /** Told the outcome of every reload (metrics count them). */
  readonly #listeners = new Set<(status: ReloadStatus) => void>();

  private constructor(
    options: RegistryOptions,
    read: (file: string) => Promise<ParseResult>,
    set: TenantSet,
  ) {
    this.#options = options;
    this.#read = read;
    this.#current = set;
    this.#status = status(true, set.size);
  }

  /** Reads and validates the file; on problems returns them so the caller can exit 1 listing them. */
  static async open(options: RegistryOptions): Promise<OpenResult> {
    const read = options.read ?? tenantsFileReader();
    const result = await read(options.file);
    if (!result.ok) return { ok: false, problems: result.problems };
    return { ok: true, registry: new TenantRegistry(options, read, TenantSet.from(result.config)) };
  }

  /** One reference; a request captures it once at its start and keeps it to the end. */
  get current(): TenantSet {
    return this.#current;
  }

  /** Outcome of the last load or reload. */
  get status(): ReloadStatus {
    return this.#status;
  }

  /**
   * Single flight. A call while a reload runs does not join it (that read may predate the
   * latest edit): it gets ONE reload queued after it, shared with every other such call.
   */
  reload(): Promise<ReloadStatus> {
    if (this.#queued) return this.#queued;
    if (!this.#active) return this.#start();
    const queued = this.#active.then(() => {
      this.#queued = undefined;
      return this.#start();
    });
    this.#queued = queued;
    return queued;
  }

  /** Calls `listener` after each reload, successful or not; returns the unsubscribe function. */
  onReload(listener: (status: ReloadStatus) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #start(): Promise<ReloadStatus> {
    const run = this.#load()
      .then((outcome) => {
        for (const listener of this.#listeners) {
          try {
            listener(outcome);
          } catch (error) {
            this.#options.logger.error({ err: error }, 'tenants reload listener failed');
          }
        }
        return outcome;
      })
      .finally(() => {
        if (this.#active === run) this.#active = undefined;
      });
    this.#active = run;
    return run;
  }

  /** Never rejects: every failure becomes a status and a log line. */
  async #load(): Promise<ReloadStatus> {
    const { file, logger, onSwap } = this.#options;
    const started = performance.now();
    let next: TenantSet;
    try {
      const result = await this.#read(file);
      if (!result.ok) return this.#reject(result.problems, started);
      next = TenantSet.from(result.config);
    } catch (error) {
      return this.#reject([`${file}: ${error instanceof Error ? error.message : String(error)}`], started);
    }
    try {
      const problems = (await this.#options.check?.(next)) ?? [];
      if (problems.length > 0) return this.#reject(problems, started);
    } catch (error) {
      return this.#reject(
        [`tenant set check failed: ${error instanceof Error ? error.message : String(error)}`],
        started,
      );
    }

    const previous = this.#current;
    this.#current = next;
    // durationMs: read, validate, build and swap (onSwap's table sync runs after, off the request path).
    const durationMs = since(started);
    const done = status(true, next.size, [], durationMs);
    this.#status = done;
    logger.info(
      { ...diffTenantSets(previous, next), tenantCount: next.size, durationMs },
      'tenants reloaded',
    );

    if (onSwap) {
      try {
        await onSwap(next, previous);
      } catch (error) {
        // The new set is already serving; undoing it would leave requests on two different sets.
        logger.error({ err: error }, 'tenants onSwap failed');
      }
    }
    return done;
  }

  #reject(problems: readonly string[], started: number): ReloadStatus {
    this.#status = status(false, this.#current.size, problems, since(started));
    this.#options.logger.warn({ problems: this.#status.problems }, 'tenants reload rejected');
    return this.#status;
  }
}
