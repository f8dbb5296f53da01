import { z } from 'zod';

/** The scopes the ACS Identity API knows (api-version 2023-10-01). */
export const acsScopeSchema = z.enum(['chat', 'voip', 'chat.join', 'chat.join.limited', 'voip.join']);
export type AcsScope = z.infer<typeof acsScopeSchema>;
