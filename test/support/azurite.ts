import { once } from 'node:events';
import { createServer } from 'node:net';
import { type AzuriteTable, startAzuriteTable } from '../../dev/azurite.js';
import { DEVELOPMENT_ACCOUNT } from '../../src/tokens/sealing/development-key.js';

export interface RunningAzurite {
  connectionString: string;
  port: number;
  /** Kills Azurite and waits for it to exit. */
  stop(): Promise<void>;
  /** Starts Azurite again on the same port (the in-memory data is gone). */
  restart(): Promise<void>;
}

/** Azurite's fixed, publicly documented development account; not a secret. */
const { name: DEV_ACCOUNT, key: DEV_ACCOUNT_KEY } = DEVELOPMENT_ACCOUNT;

/** Starts the Azurite Table service on 127.0.0.1 with in-memory storage, on `port` or a free one. */
export async function startAzurite(opts: { port?: number } = {}): Promise<RunningAzurite> {
  const port = opts.port ?? (await freePort());
  let azurite: AzuriteTable | undefined = await startAzuriteTable(port);
  return {
    connectionString:
      `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT};AccountKey=${DEV_ACCOUNT_KEY};` +
      `TableEndpoint=http://127.0.0.1:${port}/${DEV_ACCOUNT};`,
    port,
    async stop() {
      const running = azurite;
      azurite = undefined;
      await running?.stop();
    },
    async restart() {
      await azurite?.stop();
      azurite = undefined;
      azurite = await startAzuriteTable(port);
    },
  };
}

/** A port free right now, found by letting the OS pick one and releasing it. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') throw new Error('Could not find a free port');
  return address.port;
}
