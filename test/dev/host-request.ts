import http from 'node:http';

/** One request to `url` carrying `host` as its Host header, which fetch will not send; the status and body. */
export function requestWithHost(
  url: string,
  host: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; text: string }> {
  const { hostname, port, pathname, search } = new URL(url);
  return new Promise((resolve, reject) => {
    const outgoing = http.request({
      host: hostname,
      port,
      path: `${pathname}${search}`,
      method: init.method ?? 'GET',
      agent: false,
      headers: { ...init.headers, Host: host },
    });
    outgoing.on('error', reject);
    outgoing.on('response', (incoming) => {
      const chunks: Buffer[] = [];
      incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
      incoming.on('error', reject);
      incoming.on('end', () =>
        resolve({ status: incoming.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
      );
    });
    outgoing.end(init.body);
  });
}
