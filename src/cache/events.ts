import { Repeater, SlidingBuffer } from '@repeaterjs/repeater';
import type { Logger } from '../observability/logger.js';
import { pingThen, type ValkeyClient } from './client.js';
import { channels, isTopic, type Topic, type TopicMessage, values } from './keyspace.js';

/** Events a slow subscriber may lag behind before the oldest are dropped (bounded memory). */
const SUBSCRIBER_BUFFER = 100;

type Listener = (message: string) => void;
/** A listener receives messages only once `joined`: see EventBus.#add. */
interface Subscriber {
  readonly listener: Listener;
  joined: boolean;
}

/**
 * Tenant events for subscriptions. With Valkey, messages go through PUBLISH on the tenant's
 * `{t<ID>}:events:<topic>` channel and every instance (this one included) receives them on
 * its subscriber connection; without it they are delivered in-process. Each instance holds
 * one Valkey subscription per channel that has local listeners, not one per SSE stream.
 *
 * Pub/sub is at most once: an event published while Valkey is away is lost (logged as part
 * of the outage), and subscribers simply see the next one. A subscriber never gets an event
 * published before it subscribed (a mutation that answered before the subscription began).
 */
export class EventBus {
  readonly #subscribers = new Map<string, Set<Subscriber>>();
  readonly #stops = new Set<() => void>();

  constructor(
    private readonly valkey: ValkeyClient | undefined,
    private readonly logger: Logger,
  ) {
    valkey?.subscriber().on('message', (channel: string, message: string) => this.#deliver(channel, message));
  }

  /** Never throws: a lost event must not fail the mutation that committed it. */
  async publish<T extends Topic>(tenantId: number, topic: T, message: TopicMessage<T>): Promise<void> {
    const channel = channels.events(tenantId, topic);
    const raw = values.encodeEvent(tenantId, topic, message);
    if (!this.valkey) return this.#deliver(channel, raw);
    await this.valkey.attempt((c) => c.publish(channel, raw));
  }

  /**
   * The tenant's events of `topic` until the consumer returns. Messages are validated on
   * arrival; one that is garbled or names another tenant is dropped.
   */
  subscribe<T extends Topic>(
    tenantId: number,
    topic: T,
    accept: (message: TopicMessage<T>) => boolean = () => true,
  ): AsyncIterableIterator<TopicMessage<T>> {
    // Its messages could never be checked, so none would arrive: a mistake, not a quiet stream.
    if (!isTopic(topic)) throw new Error(`topic '${topic}' is not defined (defineTopic)`);
    const channel = channels.events(tenantId, topic);
    return new Repeater<TopicMessage<T>>(async (push, stop) => {
      const listener: Listener = (raw) => {
        const message = values.decodeEvent(raw, tenantId, topic);
        if (message && accept(message)) void push(message);
      };
      this.#stops.add(stop);
      const subscriber = this.#add(channel, listener);
      await stop;
      this.#stops.delete(stop);
      this.#remove(channel, subscriber);
    }, new SlidingBuffer(SUBSCRIBER_BUFFER));
  }

  /** Ends every open subscription (shutdown). */
  close(): void {
    for (const stop of this.#stops) stop();
  }

  #add(channel: string, listener: Listener): Subscriber {
    let set = this.#subscribers.get(channel);
    if (!set) {
      set = new Set();
      this.#subscribers.set(channel, set);
      // Commands on one connection run in order, so SUBSCRIBE/UNSUBSCRIBE of one channel cannot reorder.
      this.valkey
        ?.subscriber()
        .subscribe(channel)
        .catch((error: Error) => this.logger.warn({ err: error.message }, 'Valkey SUBSCRIBE failed'));
    }
    const subscriber: Subscriber = { listener, joined: !this.valkey };
    set.add(subscriber);
    if (this.valkey) {
      // A message published before this subscriber existed may still be on its way to us on
      // the subscriber connection (its PUBLISH already acknowledged). Valkey answers a PING on
      // that connection after every message it sent there before, so the subscriber joins at
      // the PONG and what came before it is not its business. (With a cluster, PUBLISH crosses
      // the cluster bus, and this is a best effort.)
      this.valkey.subscriber().sendCommand(pingThen(() => (subscriber.joined = true)));
    }
    return subscriber;
  }

  #remove(channel: string, subscriber: Subscriber): void {
    const set = this.#subscribers.get(channel);
    if (!set?.delete(subscriber) || set.size > 0) return;
    this.#subscribers.delete(channel);
    this.valkey
      ?.subscriber()
      .unsubscribe(channel)
      .catch(() => {});
  }

  #deliver(channel: string, raw: string): void {
    for (const subscriber of this.#subscribers.get(channel) ?? []) {
      if (subscriber.joined) subscriber.listener(raw);
    }
  }
}
