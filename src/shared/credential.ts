import { DefaultAzureCredential, type TokenCredential } from '@azure/identity';

/**
 * The app's Entra ID credential: the managed identity in Azure (AZURE_CLIENT_ID selects a user-assigned one), a
 * developer's sign-in locally. The composition root builds one per process and hands it to every client that needs
 * it (ACS, Table Storage, Key Vault), so they share one token cache. It is built on its first token request, so a
 * process that reaches everything with keys never constructs it.
 */
export function managedIdentityCredential(clientId: string | undefined): TokenCredential {
  let credential: TokenCredential | undefined;
  return {
    getToken(scopes, options) {
      credential ??= new DefaultAzureCredential(clientId ? { managedIdentityClientId: clientId } : {});
      return credential.getToken(scopes, options);
    },
  };
}

/** For a connection that uses the managed identity: the credential the composition root passed down. */
export function requireCredential(credential: TokenCredential | undefined): TokenCredential {
  if (!credential)
    throw new Error('A managed-identity connection needs the credential of the composition root');
  return credential;
}
