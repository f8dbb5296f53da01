/** What the demo server and the page agree on: the page reads this from CONFIG_PATH before it does anything. */
export interface DemoConfig {
  /** The token service's base URL (the API is under `/api`), on another origin than the page. */
  serviceUrl: string;
  /** Every scope the ACS Identity API knows, offered as choices. */
  scopes: readonly string[];
  /** The choices ticked at first. */
  defaultScopes: readonly string[];
}

export const CONFIG_PATH = '/config.json';
/** Same-origin proxy to the development identity provider's `POST /token`, which sends no CORS headers. */
export const DEV_TOKEN_PATH = '/dev-token';
