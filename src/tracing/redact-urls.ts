import type { Context } from '@opentelemetry/api';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace-base';

/** The URL attributes the Azure SDK (`http.url`) and the fetch instrumentation (`url.full`) set when a span starts. */
const URL_ATTRIBUTES = ['http.url', 'url.full'] as const;

/**
 * Path parts that name a user. A Table row's keys are the issuer and the user id, base64url-encoded (reversible:
 * src/identities/table/table-keys.ts); an ACS identity is the user's durable ACS id. The query string needs no rule:
 * the Azure SDK already replaces every value it does not know with `REDACTED`.
 */
const USER_PATH_PARTS: readonly [RegExp, string][] = [
  [/\(PartitionKey='[^']*',\s*RowKey='[^']*'\)/g, "(PartitionKey='{key}',RowKey='{key}')"],
  [/\/identities\/[^/?]+/g, '/identities/{id}'],
];

export function withoutUserIds(url: string): string {
  return USER_PATH_PARTS.reduce((text, [pattern, replacement]) => text.replace(pattern, replacement), url);
}

/**
 * Rewrites the URL of every span as it starts, before any exporter can see it, so no span carries a user id.
 * Both set-ups (OTLP and Azure Monitor) add it; exporters see a span only when it ends, after this has run.
 */
export class UserIdRedactingProcessor implements SpanProcessor {
  onStart(span: Span, _parentContext: Context): void {
    for (const name of URL_ATTRIBUTES) {
      const value = span.attributes[name];
      if (typeof value === 'string') span.setAttribute(name, withoutUserIds(value));
    }
  }

  onEnd(_span: ReadableSpan): void {}

  forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}
