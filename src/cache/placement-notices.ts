import type { Config } from '../config.js';
import { type Logger, silentLogger } from '../observability/logger.js';
import { ValkeyClient } from './client.js';
import { channels } from './keyspace.js';

/**
 * News that a tenant's rows moved (`tenantql tenants move`, SPEC §11), on the server-wide
 * channel `{sys}:placements`. The message carries a tenant id only; a listener reads the
 * placements again from the database, the authority, so a forged or garbled message can at
 * worst cause one extra read.
 */
export function listenForPlacements(client: ValkeyClient, onNotice: (tenantId: number) => void): void {
  const channel = channels.placements();
  const subscriber = client.subscriber();
  subscriber.on('message', (from: string, message: string) => {
    if (from !== channel) return;
    const tenantId = Number(message);
    if (Number.isSafeInteger(tenantId) && tenantId > 0) onNotice(tenantId);
  });
  void subscriber.subscribe(channel).catch(() => {});
}

/**
 * Tells every instance listening on VALKEY_URL (or the cluster) that `tenantId` moved. Resolves
 * how many subscribers heard it, or undefined when Valkey did not answer: instances then learn
 * it on their next reload, or from the first write that reaches the old place.
 */
export async function announcePlacement(
  config: Pick<Config, 'valkeyUrl' | 'valkeyClusterNodes'>,
  tenantId: number,
  logger: Logger = silentLogger,
): Promise<number | undefined> {
  if (!config.valkeyUrl && !config.valkeyClusterNodes) return undefined;
  const client = await ValkeyClient.connect(config, logger);
  if (!client) return undefined;
  try {
    return await client.attempt((c) => c.publish(channels.placements(), String(tenantId)));
  } finally {
    await client.quit();
  }
}
