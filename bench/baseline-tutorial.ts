import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CommunicationIdentityClient } from '@azure/communication-identity';
import functions, { type HttpHandler } from '@azure/functions';

/**
 * The function of the ACS tutorial "Build a trusted user access service using Azure Functions", reproduced as the
 * benchmark's baseline: nobody is verified, every request builds a new CommunicationIdentityClient, creates a new
 * ACS identity and then issues it a `voip` token (two ACS calls), and answers the token as JSON. The tutorial's
 * code, in the v3 model:
 *
 *     module.exports = async function (context, req) {
 *       let tokenClient = new CommunicationIdentityClient(connectionString);
 *       const user = await tokenClient.createUser();
 *       const userToken = await tokenClient.getToken(user, ["voip"]);
 *       context.res = { body: userToken };
 *     }
 */
export function tutorialFunction(connectionString: string): HttpHandler {
  return async () => {
    const tokenClient = new CommunicationIdentityClient(connectionString);
    const user = await tokenClient.createUser();
    const userToken = await tokenClient.getToken(user, ['voip']);
    return { jsonBody: userToken };
  };
}

export interface TutorialBaseline {
  url: string;
  close(): Promise<void>;
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/**
 * Serves the tutorial's function at every path (the bench calls /api/token) with the same per-request host work
 * dev/local-host.ts does for our service: a Functions HttpRequest and InvocationContext in, an HttpResponse out. So
 * both sides pay for what the Functions host does on Azure, and the comparison is between the two functions. A
 * failure answers 500, as the host does for a function that throws.
 */
export async function startTutorialBaseline(options: {
  connectionString: string;
  port?: number;
}): Promise<TutorialBaseline> {
  const handler = tutorialFunction(options.connectionString);
  const server = createServer(async (incoming, outgoing) => {
    try {
      const method = incoming.method ?? 'GET';
      const request = new functions.HttpRequest({
        method,
        url: `http://${incoming.headers.host ?? '127.0.0.1'}${incoming.url ?? '/'}`,
        headers: Object.fromEntries(
          Object.entries(incoming.headers).map(([name, value]) => [name, String(value)]),
        ),
        body: { bytes: await readBody(incoming) },
      });
      const context = new functions.InvocationContext({
        invocationId: randomUUID(),
        functionName: 'tutorialToken',
        logHandler: () => {},
      });
      const response = new functions.HttpResponse(await handler(request, context));
      const body = Buffer.from(await response.arrayBuffer());
      outgoing.writeHead(response.status, {
        ...Object.fromEntries(response.headers),
        'content-length': String(body.length),
      });
      outgoing.end(body);
    } catch {
      if (!outgoing.headersSent) outgoing.writeHead(500);
      outgoing.end();
    }
  });
  server.listen(options.port ?? 0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
