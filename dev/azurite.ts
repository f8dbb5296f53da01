import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import path from 'node:path';

/**
 * Azurite's Table service as a child process, in memory: what `npm start` runs when the settings ask for
 * development storage, and what the tests run their Table Storage against.
 */

/** Where `UseDevelopmentStorage=true` sends Table traffic (the Azure SDK's fixed development endpoint). */
export const DEVELOPMENT_STORAGE_TABLE_HOST = '127.0.0.1';
export const DEVELOPMENT_STORAGE_TABLE_PORT = 10002;

const AZURITE_TABLE_BIN = path.resolve(import.meta.dirname, '../node_modules/.bin/azurite-table');
const STOP_TIMEOUT_MS = 5_000;

export interface AzuriteTable {
  port: number;
  /** Kills Azurite and waits for it to exit; its in-memory data is gone. */
  stop(): Promise<void>;
}

/** Starts the Azurite Table service on `host:port` with in-memory storage and resolves once it serves. */
export async function startAzuriteTable(
  port: number,
  host = DEVELOPMENT_STORAGE_TABLE_HOST,
): Promise<AzuriteTable> {
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
      host,
      '--tablePort',
      String(port),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  // A parent that exits without stopping it (process.exit, an uncaught error) must not leave Azurite behind.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  try {
    await waitUntilStarted(child);
  } catch (error) {
    process.off('exit', killOnExit);
    await terminate(child);
    throw error;
  }
  // Keep draining output so Azurite never blocks on a full pipe.
  child.stdout?.resume();
  child.stderr?.resume();
  return {
    port,
    async stop() {
      process.off('exit', killOnExit);
      await terminate(child);
    },
  };
}

/** Whether a connection string asks for the local storage emulator (`UseDevelopmentStorage=true`). */
export function usesDevelopmentStorage(connectionString: string | undefined): boolean {
  return (connectionString ?? '')
    .split(';')
    .some((part) => part.replace(/\s/g, '').toLowerCase() === 'usedevelopmentstorage=true');
}

/** Whether anything accepts a TCP connection on `host:port` right now. */
export async function answersOn(host: string, port: number): Promise<boolean> {
  const socket = connect({ host, port });
  try {
    await once(socket, 'connect');
    return true;
  } catch {
    return false;
  } finally {
    socket.destroy();
  }
}

/**
 * Resolves when Azurite says it started, rejects when it exits first. No clock: on a busy machine its start-up
 * takes what it takes (over 20 s was seen), and a caller that must bound it (a test hook) has its own timeout.
 */
function waitUntilStarted(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('successfully started')) finish();
    };
    const onExit = (code: number | null) =>
      fail(new Error(`Azurite exited with ${code} before starting: ${output}`));
    const cleanUp = () => {
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
