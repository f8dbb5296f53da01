import type { EntraAuthority, EntraPrincipal } from './entra.js';
import type { Faults } from './faults.js';
import type { RepeatabilityLedger } from './repeatability.js';
import type { EmulatorState } from './state.js';
import type { Clock } from './time.js';
import type { AcsTokenSigner } from './tokens.js';

export interface ManagedIdentities {
  /** The secret the managed identity endpoint expects in X-IDENTITY-HEADER. */
  header: string;
  systemAssigned: EntraPrincipal;
  /** User-assigned identities attached to the emulated app, by client id. */
  userAssigned: ReadonlyMap<string, EntraPrincipal>;
}

/** Everything a request handler needs; one per running emulator. */
export interface EmulatorContext {
  accessKey: string;
  https: boolean;
  /** The address the server is bound to; requests must name it or a loopback host (see host-check.ts). */
  bindHost: string;
  clock: Clock;
  state: EmulatorState;
  faults: Faults;
  repeatability: RepeatabilityLedger;
  signer: AcsTokenSigner;
  entra: EntraAuthority;
  managedIdentities: ManagedIdentities;
}
