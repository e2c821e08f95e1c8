import { connect, createServer, type Server, type Socket } from 'node:net';

export type ProxyMode = 'forward' | 'refuse' | 'blackhole';

/**
 * A TCP proxy in front of PostgreSQL that a test can cut or hang, so an outage is simulated
 * without stopping the PostgreSQL that every other test file shares.
 * - `refuse`: every open connection is destroyed, new ones are closed at once.
 * - `blackhole`: connections stay open but no byte moves either way (a hung server).
 */
export class TcpProxy {
  #mode: ProxyMode = 'forward';
  readonly #pairs = new Set<[Socket, Socket]>();

  private constructor(readonly server: Server) {}

  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    let proxy: TcpProxy | undefined;
    const server = createServer((client) => proxy!.accept(client, target));
    proxy = new TcpProxy(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    return (this.server.address() as { port: number }).port;
  }

  /** Rewrites a PostgreSQL URL to go through this proxy. */
  url(databaseUrl: string): string {
    const url = new URL(databaseUrl);
    url.hostname = '127.0.0.1';
    url.port = String(this.port);
    return url.toString();
  }

  set mode(mode: ProxyMode) {
    this.#mode = mode;
    for (const [client, upstream] of this.#pairs) {
      if (mode === 'refuse') {
        client.destroy();
        upstream.destroy();
      } else if (mode === 'blackhole') {
        client.pause();
        upstream.pause();
      } else {
        client.resume();
        upstream.resume();
      }
    }
  }

  private accept(client: Socket, target: { host: string; port: number }) {
    if (this.#mode === 'refuse') return client.destroy();
    const upstream = connect(target.port, target.host);
    const pair: [Socket, Socket] = [client, upstream];
    this.#pairs.add(pair);
    const drop = () => {
      this.#pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
    if (this.#mode === 'blackhole') {
      client.pause();
      upstream.pause();
    }
  }

  async close(): Promise<void> {
    this.mode = 'refuse';
    await new Promise((resolve) => this.server.close(resolve));
  }
}
