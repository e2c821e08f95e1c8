import type { EventBus } from '../cache/events.js';
import { hashSegment } from '../cache/keyspace.js';
import type { Context } from '../context.js';
import { isApiKeyLive } from '../db/queries/api-keys.js';
import type { Db } from '../db/queries/rows.js';
import { type AppError, forbidden, tenantDisabled, tenantNotFound, unauthenticated } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { TenantSet } from '../tenancy/tenant-set.js';
import type { Tenant } from '../tenancy/tenants-file.js';
import { type Principal, serviceMayAct } from './principal.js';
import { covers, type SessionRevocations } from './session-revocations.js';
import { tenantRefProblem } from './tenant-claim.js';

/** Keeps each stream's credential under watch (StreamCredentials, below). */
export interface StreamGuard {
  /**
   * Binds a new stream to the tenant and principal of `base`. The guard calls `end` (at most
   * once, never synchronously) as soon as that credential stops being valid; the stream then
   * sends the error as its last event and completes.
   */
  watch(base: Context, end: (error: AppError) => void): StreamWatch;
}

export interface StreamWatch {
  /** Still valid by the clock and the tenant set? If not, the guard has just called `end`. */
  isValid(): boolean;
  /** The same, and for an API key that it is still live, asked in the event's own transaction. */
  isValidIn(db: Db): Promise<boolean>;
  /** The stream ended; stop watching it. Idempotent. */
  release(): void;
}

/** What a subscription stream was opened with: the tenant it is on and the principal that opened it. */
export interface StreamCredential {
  readonly tenant: Tenant;
  readonly principal: Principal;
}

/** setTimeout's longest delay (about 24.8 days); a later `exp` is reached in several steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Why a stream opened with `credential` may not go on under `tenants` at `nowMs`: the error a
 * new request with the same credential would get now. Undefined while it is still good. The
 * token's `exp` counts exactly: the verifier's clock tolerance is for accepting a request, not
 * for keeping a stream. (Whether an API key is revoked is the database's to say: see watch.)
 */
export function credentialProblem(
  credential: StreamCredential,
  tenants: TenantSet,
  nowMs: number,
): AppError | undefined {
  const tenant = tenants.byId(credential.tenant.id);
  if (!tenant) return tenantNotFound();
  if (tenant.disabled) return tenantDisabled();
  const { principal } = credential;
  if (principal.kind === 'USER' || principal.kind === 'SERVICE') {
    if (nowMs >= principal.expiresAt * 1000) return unauthenticated('The token has expired.');
  }
  if (principal.kind === 'USER' && principal.tenantRef) {
    const problem = tenantRefProblem(principal.tenantRef, tenant, tenants);
    if (problem) return problem;
  }
  if (principal.kind === 'SERVICE') {
    const service = tenants.byId(principal.actorTenantId);
    if (service?.kind !== 'virtual' || service.disabled) {
      return unauthenticated('The service token names no configured virtual tenant.');
    }
    if (!serviceMayAct(service, tenant)) return forbidden('This service is no longer granted this tenant.');
  }
  return undefined;
}

const keyRevoked = () => unauthenticated('The API key was revoked.');
const sessionRevoked = () => unauthenticated('The session was revoked.');

export interface StreamCredentialsOptions {
  /** The tenant set in force now (the registry's current one). */
  tenants: () => TenantSet;
  /** Carries API key revocations between instances (in-process without Valkey). */
  events: EventBus;
  logger: Logger;
}

/** One open stream under watch. */
interface Watched {
  readonly credential: StreamCredential;
  readonly end: (error: AppError) => void;
  expiry?: NodeJS.Timeout;
  revocations?: AsyncIterator<unknown>;
}

/**
 * Every open subscription stream, bound to the credential that opened it, and ended (once, with
 * the error of credentialProblem) as soon as that credential stops being valid: by a timer at the
 * token's `exp`, on a revocation message for its API key or its user's sessions (followSessions),
 * and on every reload (recheck). Before each event the stream also asks (StreamWatch), so no event is delivered after that moment even
 * if a message was lost. A stream is here only while it is open: each entry is removed when its
 * stream ends, however it ends, so the set is bounded by the open connections.
 */
export class StreamCredentials implements StreamGuard {
  readonly #open = new Set<Watched>();
  #sessions: SessionRevocations | undefined;

  constructor(private readonly options: StreamCredentialsOptions) {}

  /** Open streams under watch (tests assert that none is left behind). */
  get size(): number {
    return this.#open.size;
  }

  watch(credential: StreamCredential, end: (error: AppError) => void): StreamWatch {
    const stream: Watched = { credential, end };
    this.#open.add(stream);
    this.#armExpiry(stream);
    const { principal } = credential;
    if (principal.kind === 'API_KEY') {
      const revocations = this.options.events.subscribe(
        credential.tenant.id,
        'revocations',
        (message) => message.apiKeyId === principal.apiKeyId,
      );
      stream.revocations = revocations;
      void revocations.next().then((message) => {
        if (!message.done) this.#end(stream, keyRevoked());
      });
    }
    // Not synchronously: the caller is still wiring `end`. This also catches a reload that ran
    // between the request's authentication and now.
    queueMicrotask(() => this.#check(stream));
    return {
      isValid: () => this.#check(stream),
      isValidIn: (db) => this.#checkIn(stream, db),
      release: () => this.#release(stream),
    };
  }

  /**
   * Ends user streams whose token revokeSessions revoked: at once when this instance learns of
   * a revocation (its own, a notice from another instance, or a periodic read), and before each
   * event from what it knows (#check). The app calls this once with its revocations.
   */
  followSessions(sessions: SessionRevocations): void {
    this.#sessions = sessions;
    sessions.onRevoked((tenantId, subjectHash, revokedAt) => {
      for (const stream of this.#open) {
        const { tenant, principal } = stream.credential;
        if (principal.kind !== 'USER' || tenant.id !== tenantId) continue;
        if (covers(revokedAt, principal.issuedAt) && hashSegment(principal.subject) === subjectHash)
          this.#end(stream, sessionRevoked());
      }
    });
  }

  /**
   * Re-checks every open stream against the current tenant set; call after each reload. One
   * log line for all the streams it ends (a disabled tenant may have thousands).
   */
  recheck(): void {
    const tenants = this.options.tenants();
    const now = Date.now();
    const ended: Partial<Record<AppError['code'], number>> = {};
    for (const stream of this.#open) {
      const problem = credentialProblem(stream.credential, tenants, now);
      if (!problem) continue;
      this.#end(stream, problem, false);
      ended[problem.code] = (ended[problem.code] ?? 0) + 1;
    }
    if (Object.keys(ended).length > 0) {
      this.options.logger.info(
        { ended },
        'subscriptions ended by a reload: their credentials are no longer valid',
      );
    }
  }

  #check(stream: Watched): boolean {
    if (!this.#open.has(stream)) return false;
    const problem =
      credentialProblem(stream.credential, this.options.tenants(), Date.now()) ?? this.#revoked(stream);
    if (problem) this.#end(stream, problem);
    return problem === undefined;
  }

  #revoked(stream: Watched): AppError | undefined {
    const { tenant, principal } = stream.credential;
    if (principal.kind !== 'USER' || !this.#sessions) return undefined;
    return this.#sessions.isRevokedNow(tenant.id, principal.subject, principal.issuedAt)
      ? sessionRevoked()
      : undefined;
  }

  async #checkIn(stream: Watched, db: Db): Promise<boolean> {
    if (!this.#check(stream)) return false;
    const { principal } = stream.credential;
    if (principal.kind !== 'API_KEY' || (await isApiKeyLive(db, principal.apiKeyId)))
      return this.#check(stream);
    this.#end(stream, keyRevoked());
    return false;
  }

  /**
   * A timer to `exp`, checked by Date.now when it fires (re-armed if it woke early, or if `exp`
   * was too far for one timer). A past `exp` needs none: watch's first check ends the stream.
   */
  #armExpiry(stream: Watched): void {
    const { principal } = stream.credential;
    if (principal.kind !== 'USER' && principal.kind !== 'SERVICE') return;
    const left = principal.expiresAt * 1000 - Date.now();
    if (left <= 0) return;
    stream.expiry = setTimeout(
      () => {
        if (this.#check(stream)) this.#armExpiry(stream);
      },
      Math.min(left, MAX_TIMER_MS),
    );
    stream.expiry.unref();
  }

  #end(stream: Watched, error: AppError, log = true): void {
    if (!this.#release(stream)) return;
    if (log) {
      const { tenant, principal } = stream.credential;
      this.options.logger.info(
        { tenantId: tenant.id, principal: principal.kind, code: error.code },
        'subscription ended: its credential is no longer valid',
      );
    }
    stream.end(error);
  }

  /** False if the stream was released already. */
  #release(stream: Watched): boolean {
    if (!this.#open.delete(stream)) return false;
    clearTimeout(stream.expiry);
    void stream.revocations?.return?.();
    return true;
  }
}
