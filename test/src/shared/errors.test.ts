import { describe, expect, it } from 'vitest';
import { answerFor } from '../../../src/http/error-answers.js';
import * as errors from '../../../src/shared/errors.js';

/** Every error class of the one errors module, built with arguments each constructor accepts. */
const raised = Object.entries(errors).map(([name, ErrorClass]) => ({
  name,
  error: new (ErrorClass as new (...args: unknown[]) => Error & { code?: unknown })('reason', 1, undefined),
}));

describe('the errors module (src/shared/errors.ts)', () => {
  it('holds only error classes, each with a stable code of its own', () => {
    expect(raised.length).toBeGreaterThan(0);
    for (const { name, error } of raised) {
      expect(error, name).toBeInstanceOf(Error);
      expect(error.name).toBe(name);
      expect(error.code, name).toMatch(/^ERR_[A-Z_]+$/);
    }
    const codes = raised.map(({ error }) => error.code);
    expect(new Set(codes).size).toBe(codes.length);
  });

  it('has every code answered by the one table, src/http/error-answers.ts', () => {
    for (const { name, error } of raised) {
      const answer = answerFor(error, { store: { kind: 'memory' } });
      expect(answer, `${name} (${String(error.code)}) has no answer`).toBeDefined();
      expect(answer?.outcome).not.toBe('');
    }
  });
});
