import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * What the relay does to entity writes: pass them, drop inserts (POST) or replaces (PUT) before they reach storage,
 * apply replaces but lose their answers on the way back (the ambiguous failure), drop every write, or drop
 * everything ('down').
 */
export type RelayMode =
  | 'pass'
  | 'drop-inserts'
  | 'drop-replaces'
  | 'lose-replace-answers'
  | 'drop-writes'
  | 'down';

export interface RelayOptions {
  /** Faults apply to this table only (its entities and queries), when given; else to every table. */
  table?: string;
}

/**
 * A real HTTP hop in front of Azurite that can fail entity writes, and counts the reads and writes of every table
 * whose name starts with `options.table` (the identity table and the tables named after it).
 */
export async function startStorageRelay(target: URL, options: RelayOptions = {}) {
  let mode: RelayMode = 'pass';
  const counts = { reads: 0, writes: 0 };
  const isTableCreate = (url: string) => /\/Tables(\?|$)/.test(url) || url.includes('$batch');
  const server: Server = createServer((request, response) => {
    const url = request.url ?? '';
    const method = request.method ?? 'GET';
    const write = method !== 'GET' && method !== 'HEAD';
    const targeted = options.table === undefined || new RegExp(`/${options.table}(\\(|\\?|$)`).test(url);
    if (options.table !== undefined && url.includes(`/${options.table}`))
      counts[write ? 'writes' : 'reads']++;
    const drop =
      mode === 'down' ||
      (targeted && mode === 'drop-writes' && write && !isTableCreate(url)) ||
      (targeted && mode === 'drop-inserts' && method === 'POST' && !isTableCreate(url)) ||
      (targeted && mode === 'drop-replaces' && method === 'PUT');
    if (drop) {
      request.socket.destroy();
      return;
    }
    const loseAnswer = targeted && mode === 'lose-replace-answers' && method === 'PUT';
    const upstream = httpRequest(
      { host: target.hostname, port: target.port, method, path: url, headers: request.headers },
      (answer) => {
        if (loseAnswer) {
          answer.resume();
          answer.on('end', () => request.socket.destroy());
          return;
        }
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      },
    );
    upstream.on('error', () => request.socket.destroy());
    request.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    counts,
    setMode: (next: RelayMode) => {
      mode = next;
    },
    /** `connectionString` (an Azurite one) with its table endpoint pointed at this relay. */
    relayed: (connectionString: string) =>
      connectionString.replace(
        /TableEndpoint=http:\/\/127\.0\.0\.1:\d+/,
        `TableEndpoint=http://127.0.0.1:${port}`,
      ),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
