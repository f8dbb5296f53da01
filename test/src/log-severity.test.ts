/**
 * Start-up problems reach Application Insights with their severity. The Functions host records what the worker
 * writes to stdout at Information (Azure/azure-functions-host src/WebJobs.Script/Workers/ProcessManagement/
 * WorkerProcess.cs: OnOutputDataReceived → LogLevel.Information) and guesses the level of stderr lines from their
 * text; only the invocation's own logging (context.warn / context.error) carries a real level. So problems logged
 * outside an invocation are kept and logged again, once, through the next invocation's context.
 */
import { type LogLevel as FunctionsLogLevel, InvocationContext } from '@azure/functions';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { consoleLogger, logKeptProblems } from '../../src/log.js';

function contextLogging() {
  const lines: { level: FunctionsLogLevel; line: string }[] = [];
  const context = new InvocationContext({
    invocationId: 'inv-1',
    functionName: 'issueToken',
    logHandler: (level, ...args) => lines.push({ level, line: String(args[0]) }),
  });
  return { context, lines };
}

afterEach(() => {
  vi.restoreAllMocks();
  logKeptProblems(contextLogging().context); // leave nothing kept for the next test
});

describe('problems logged outside an invocation', () => {
  it('are logged again through the first invocation with their level (error, warning), and only once', () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    vi.spyOn(console, 'info').mockImplementation(() => {});
    consoleLogger('error', { event: 'invalid_settings', settingNames: ['AUTH_ISSUER'] });
    consoleLogger('warning', { event: 'token_sealing_off', reason: 'key_vault_unreachable' });
    consoleLogger('information', { event: 'token_sealing_key_vault' });

    const first = contextLogging();
    logKeptProblems(first.context);
    expect(first.lines.map(({ level }) => level)).toEqual(['error', 'warning']);
    // Each line still starts with its event, so the alert queries (infra/app/alerts.bicep) find it.
    expect(first.lines[0]!.line).toMatch(/^\{"event":"invalid_settings"/);
    expect(JSON.parse(first.lines[1]!.line)).toMatchObject({
      event: 'token_sealing_off',
      invocationId: 'inv-1',
      loggedAtStartUp: true,
    });

    const second = contextLogging();
    logKeptProblems(second.context);
    expect(second.lines).toEqual([]);
  });

  it('are still written to the console at once, for local runs and the host log stream', () => {
    const error = vi.spyOn(console, 'error').mockImplementation(() => {});
    consoleLogger('error', { event: 'invalid_settings', settingNames: [] });
    expect(error).toHaveBeenCalledWith('{"event":"invalid_settings","settingNames":[]}');
  });
});
