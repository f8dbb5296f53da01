import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import path from 'node:path';

export interface RunningAzurite {
  connectionString: string;
  port: number;
  /** Kills Azurite and waits for it to exit. */
  stop(): Promise<void>;
  /** Starts Azurite again on the same port (the in-memory data is gone). */
  restart(): Promise<void>;
}

/** Azurite's fixed, publicly documented development account; not a secret. */
const DEV_ACCOUNT = 'devstoreaccount1';
const DEV_ACCOUNT_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

const AZURITE_TABLE_BIN = path.resolve(import.meta.dirname, '../../node_modules/.bin/azurite-table');
const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 5_000;

/** Starts the Azurite Table service on 127.0.0.1 with in-memory storage, on `port` or a free one. */
export async function startAzurite(opts: { port?: number } = {}): Promise<RunningAzurite> {
  const port = opts.port ?? (await freePort());
  let child: ChildProcess | undefined = await spawnAzurite(port);
  return {
    connectionString:
      `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT};AccountKey=${DEV_ACCOUNT_KEY};` +
      `TableEndpoint=http://127.0.0.1:${port}/${DEV_ACCOUNT};`,
    port,
    async stop() {
      const running = child;
      child = undefined;
      if (running) await terminate(running);
    },
    async restart() {
      if (child) await terminate(child);
      child = undefined;
      child = await spawnAzurite(port);
    },
  };
}

async function spawnAzurite(port: number): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [
      AZURITE_TABLE_BIN,
      '--inMemoryPersistence',
      '--silent',
      '--skipApiVersionCheck',
      '--disableTelemetry',
      '--loose',
      '--tableHost',
      '127.0.0.1',
      '--tablePort',
      String(port),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  try {
    await waitUntilStarted(child);
  } catch (error) {
    await terminate(child);
    throw error;
  }
  // Keep draining output so Azurite never blocks on a full pipe.
  child.stdout?.resume();
  child.stderr?.resume();
  return child;
}

function waitUntilStarted(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(
      () => fail(new Error(`Azurite did not start within ${START_TIMEOUT_MS} ms`)),
      START_TIMEOUT_MS,
    );
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('successfully started')) finish();
    };
    const onExit = (code: number | null) =>
      fail(new Error(`Azurite exited with ${code} before starting: ${output}`));
    const cleanUp = () => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
      child.off('error', fail);
    };
    function finish() {
      cleanUp();
      resolve();
    }
    function fail(error: Error) {
      cleanUp();
      reject(error);
    }
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
    child.once('error', fail);
  });
}

async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  try {
    await exited;
  } finally {
    clearTimeout(timer);
  }
}

/** A port free right now, found by letting the OS pick one and releasing it. */
async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') throw new Error('Could not find a free port');
  return address.port;
}
