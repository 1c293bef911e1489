import { type IdKind, idPrefixes } from '@gatehouse/schema';
import { randomBase62 } from '../crypto/index.js';

/** `newId('user')` → `usr_…` with 128 random bits. */
export const newId = <K extends IdKind>(kind: K): `${(typeof idPrefixes)[K]}_${string}` =>
  `${idPrefixes[kind]}_${randomBase62(16)}`;
