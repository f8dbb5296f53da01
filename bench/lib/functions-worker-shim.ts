import Module from 'node:module';

/** A function as the Functions worker receives it from `app.http`: its metadata and the app's handler. */
export interface RegisteredFunction {
  metadata: { name: string; bindings: Record<string, { type: string; direction: string }> };
  callback: (...args: unknown[]) => unknown;
}

interface InvocationModel {
  getArguments(): Promise<{ context: unknown; inputs: unknown[] }>;
  invokeFunction(
    context: unknown,
    inputs: unknown[],
    handler: RegisteredFunction['callback'],
  ): Promise<unknown>;
  getResponse(context: unknown, result: unknown): Promise<{ returnValue?: { http?: RpcHttpResponse } }>;
}

interface ProgrammingModel {
  getInvocationModel(coreContext: object): InvocationModel;
}

export interface RpcHttpResponse {
  statusCode?: string | number;
  body?: { string?: string; bytes?: Uint8Array };
}

export interface HttpInvocation {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
}

/**
 * Stands in for `@azure/functions-core`, the module the Azure Functions Node.js worker injects into the app: it
 * records what the app registers at load, and invokes a function the way the worker does, through the programming
 * model the app's own copy of `@azure/functions` installed (request conversion, handler, response conversion).
 */
export class FunctionsWorkerShim {
  readonly functions = new Map<string, RegisteredFunction>();
  private model?: ProgrammingModel;
  private invocations = 0;
  private readonly appStartHooks: ((context: object) => unknown)[] = [];

  /** Makes `require('@azure/functions-core')` resolve to this shim in this process, as the worker does. */
  install(): void {
    const moduleId = '@azure/functions-core';
    const cacheKey = `${moduleId}#worker-shim`;
    const api = {
      setProgrammingModel: (model: ProgrammingModel) => {
        this.model = model;
      },
      registerFunction: (
        metadata: RegisteredFunction['metadata'],
        callback: RegisteredFunction['callback'],
      ) => {
        this.functions.set(metadata.name, { metadata, callback });
        return { dispose() {} };
      },
      registerHook: (name: string, callback: (context: object) => unknown) => {
        if (name === 'appStart') this.appStartHooks.push(callback);
        return { dispose() {} };
      },
      log: () => {},
    };
    const shimModule = new Module(cacheKey);
    shimModule.exports = api;
    shimModule.loaded = true;
    const internals = Module as unknown as {
      _cache: Record<string, Module>;
      _resolveFilename: (request: string, ...rest: unknown[]) => string;
    };
    internals._cache[cacheKey] = shimModule;
    const resolve = internals._resolveFilename;
    internals._resolveFilename = (request, ...rest) =>
      request === moduleId ? cacheKey : resolve(request, ...rest);
  }

  /**
   * What the worker does once the entry is loaded, before it takes an invocation: it awaits the app's appStart hooks
   * (Azure/azure-functions-nodejs-worker src/startApp.ts). The service starts its telemetry there.
   */
  async startApp(): Promise<void> {
    for (const hook of this.appStartHooks)
      await hook({ hookData: {}, appHookData: {}, functionAppDirectory: '' });
  }

  /** Runs one HTTP invocation of `functionName` as the worker would, and returns the status and body. */
  async invokeHttp(functionName: string, request: HttpInvocation): Promise<{ status: number; body: string }> {
    const registered = this.functions.get(functionName);
    if (!registered || !this.model) throw new Error(`The app did not register ${functionName}`);
    const trigger = Object.entries(registered.metadata.bindings).find(
      ([, binding]) => binding.type === 'httpTrigger',
    );
    if (!trigger) throw new Error(`${functionName} has no HTTP trigger`);
    const invocation = this.model.getInvocationModel({
      invocationId: `cold-start-${++this.invocations}`,
      metadata: registered.metadata,
      request: {
        inputData: [
          {
            name: trigger[0],
            data: {
              http: {
                method: request.method,
                url: request.url,
                headers: request.headers,
                query: Object.fromEntries(new URL(request.url).searchParams),
                params: {},
                ...(request.body === undefined ? {} : { body: { string: request.body } }),
              },
            },
          },
        ],
        triggerMetadata: {},
      },
      log: () => {},
      state: undefined,
    });
    const { context, inputs } = await invocation.getArguments();
    const result = await invocation.invokeFunction(context, inputs, registered.callback);
    const http = (await invocation.getResponse(context, result)).returnValue?.http;
    const body =
      http?.body?.string ?? (http?.body?.bytes ? Buffer.from(http.body.bytes).toString('utf8') : '');
    return { status: Number(http?.statusCode ?? 200), body };
  }
}
