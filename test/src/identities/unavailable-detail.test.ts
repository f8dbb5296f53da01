import { describe, expect, it } from 'vitest';
import { storeUnavailableDetail } from '../../../src/identities/unavailable-detail.js';
import type { Settings } from '../../../src/settings.js';
import { DEVELOPMENT_ACCOUNT } from '../../../src/tokens/sealing/development-key.js';

type TableStore = Extract<Settings['store'], { kind: 'table' }>;
const table = (store: TableStore) => store;

describe('storeUnavailableDetail', () => {
  it('names development storage, where it was tried, and that Azurite is expected there', () => {
    const detail = storeUnavailableDetail(
      table({
        kind: 'table',
        tableName: 'AcsIdentities',
        connection: { kind: 'connectionString', connectionString: 'UseDevelopmentStorage=true' },
      }),
    );
    expect(detail).toBe(
      'The identity store (Azure Table Storage at http://127.0.0.1:10002/devstoreaccount1, table AcsIdentities) is unavailable. ' +
        'Azurite is expected there: start it with npm run azurite, or let npm start start it.',
    );
  });

  it('names a loopback endpoint without the account key of its connection string', () => {
    const { key } = DEVELOPMENT_ACCOUNT;
    const detail = storeUnavailableDetail(
      table({
        kind: 'table',
        tableName: 'Mappings',
        connection: {
          kind: 'connectionString',
          connectionString: `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${key};TableEndpoint=http://localhost:41234/devstoreaccount1;`,
        },
      }),
    );
    expect(detail).toContain('at http://localhost:41234/devstoreaccount1, table Mappings');
    expect(detail).not.toContain(key);
  });

  it('names neither a remote endpoint nor anything of its connection string', () => {
    const remote: TableStore['connection'][] = [
      {
        kind: 'connectionString',
        connectionString:
          'TableEndpoint=https://contoso.table.core.windows.net/;SharedAccessSignature=sv=2020&sig=c2VjcmV0',
      },
      {
        kind: 'connectionString',
        connectionString:
          'DefaultEndpointsProtocol=https;AccountName=contoso;AccountKey=c2VjcmV0;EndpointSuffix=core.windows.net',
      },
      { kind: 'endpoint', endpoint: 'https://contoso.table.core.windows.net', clientId: undefined },
    ];
    for (const connection of remote) {
      const detail = storeUnavailableDetail(table({ kind: 'table', tableName: 'AcsIdentities', connection }));
      expect(detail).toBe('The identity store (Azure Table Storage) is unavailable. Retry later.');
    }
  });

  it('says only that the store is unavailable for the in-memory store', () => {
    expect(storeUnavailableDetail({ kind: 'memory' })).toBe(
      'The identity store is unavailable. Retry later.',
    );
  });
});
