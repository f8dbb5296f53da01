/** The part of autocannon 9's programmatic API the benchmark uses (the package ships no types). */
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events';

  export interface RawRequest {
    method?: string;
    path?: string;
    headers?: Record<string, string>;
    body?: string;
  }

  export interface Client {
    setHeaders(headers: Record<string, string>): void;
  }

  export interface Options {
    url: string;
    connections?: number;
    duration?: number;
    amount?: number;
    timeout?: number;
    method?: string;
    headers?: Record<string, string>;
    body?: string;
    setupClient?: (client: Client) => void;
    requests?: { setupRequest?: (request: RawRequest, context: object) => RawRequest }[];
  }

  export interface Result {
    /** Seconds the run took. */
    duration: number;
    /** Connection errors, timeouts included. */
    errors: number;
    non2xx: number;
    requests: { sent: number; total: number };
  }

  export interface Instance extends EventEmitter {
    on(
      event: 'response',
      listener: (client: Client, statusCode: number, bytes: number, ms: number) => void,
    ): this;
    on(event: 'done', listener: (result: Result) => void): this;
  }

  function autocannon(options: Options, callback: (error: Error | null, result: Result) => void): Instance;
  export default autocannon;
}
