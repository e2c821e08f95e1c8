import pg from 'pg';

/**
 * `fn` on a connection of its own to `url`, closed after it whatever happens: a command's
 * one-off work (setup, the key store's database), or a sync as the owner that must not linger.
 */
export async function withClient<T>(
  url: string,
  fn: (client: pg.Client) => Promise<T>,
  applicationName = 'tenantql',
): Promise<T> {
  const client = new pg.Client({ connectionString: url, application_name: applicationName });
  await client.connect(); // a failed connect leaves nothing open to end
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
