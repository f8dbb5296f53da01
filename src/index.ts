import { app } from '@azure/functions';
import { logKeptProblems } from './log.js';
import { routes } from './routes.js';
import { getServices } from './services.js';

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
