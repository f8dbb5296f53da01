// The sealing layer of shared token reuse: what the token path and the identity table need, nothing more.
export { createTokenSealer, type TokenSealerOptions } from './create-token-sealer.js';
export { sealingBinding, type TokenSealer } from './token-sealer.js';
