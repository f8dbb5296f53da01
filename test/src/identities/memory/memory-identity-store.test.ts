import { MemoryIdentityStore } from '../../../../src/identities/memory/memory-identity-store.js';
import { describeIdentityStoreContract } from '../identity-store.contract.js';

describeIdentityStoreContract('MemoryIdentityStore', async () => new MemoryIdentityStore());
