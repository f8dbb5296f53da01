import { app } from '@azure/functions';
import { logKeptProblems } from './log.js';
import { routes } from './routes.js';
import { getServices } from './services.js';
import { startTelemetry } from './tracing/start.js';

// The worker awaits appStart hooks before it takes invocations (Azure/azure-functions-nodejs-worker
// src/startApp.ts: executeHooks('appStart') after loading the entry point), so the first request is traced too.
const telemetry = startTelemetry();
app.hook.appStart(async () => {
  await telemetry;
});
app.hook.appTerminate(async () => {
  await (await telemetry)?.shutdown();
});

// Built at load so bad settings are logged when the worker starts, not at the first request.
getServices();

for (const { name, methods, route, authLevel, handler } of routes) {
  app.http(name, {
    methods: [...methods],
    route,
    authLevel,
    handler: (request, context) => {
      logKeptProblems(context);
      return handler(request, context, getServices());
    },
  });
}
