import type { z } from 'zod';
import type { FieldError } from './problem.js';

function fieldName(prefix: string, path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (name, key) =>
      typeof key === 'number' ? `${name}[${key}]` : name ? `${name}.${String(key)}` : String(key),
    prefix,
  );
}

/**
 * Turns zod issues into field errors without quoting the input (zod's default messages may), so a secret sent in
 * the wrong field is never echoed back.
 */
export function fieldErrors(error: z.ZodError, fallbackName: string): FieldError[] {
  return error.issues.flatMap((issue): FieldError[] => {
    const name = fieldName('', issue.path) || fallbackName;
    switch (issue.code) {
      case 'unrecognized_keys':
        return issue.keys.map((key) => ({
          name: fieldName('', [...issue.path, key]),
          reason: 'is not a known field',
        }));
      case 'invalid_type':
        return [
          {
            name,
            reason: `must be ${issue.expected === 'object' ? 'a JSON object' : `a ${issue.expected}`}`,
          },
        ];
      case 'invalid_value':
        return [{ name, reason: `must be one of: ${issue.values.map(String).join(', ')}` }];
      case 'custom':
        return [{ name, reason: issue.message }];
      case 'too_small':
      case 'too_big':
      case 'not_multiple_of':
        return [{ name, reason: issue.message.startsWith('must') ? issue.message : 'is out of range' }];
      default:
        return [{ name, reason: 'is invalid' }];
    }
  });
}
