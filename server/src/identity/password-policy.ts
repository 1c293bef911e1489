import type { FieldErrors } from '@gatehouse/schema';

/**
 * Common passwords long enough to pass the length rule; a small embedded list (no network look-ups).
 * Compared case-insensitively.
 */
const commonLongPasswords = new Set([
  '123456789012',
  '1234567890123',
  '12345678901234',
  '123456789012345',
  '1234567890qwerty',
  '1q2w3e4r5t6y',
  '1qaz2wsx3edc',
  '1qaz2wsx3edc4rfv',
  'aaaaaaaaaaaa',
  'abc123abc123',
  'abcdefghijkl',
  'administrator',
  'administrator1',
  'changeme1234',
  'changemenow1',
  'correcthorsebatterystaple',
  'iloveyou1234',
  'letmein12345',
  'password1234',
  'password12345',
  'password123456',
  'password!234',
  'passwordpassword',
  'passw0rd1234',
  'p@ssw0rd1234',
  'p@ssword1234',
  'qwerty123456',
  'qwertyuiop12',
  'qwertyuiopasdf',
  'qwertyuiopasdfgh',
  'trustno1trustno1',
  'welcome12345',
  'welcome123456',
  'zaq12wsxcde3',
  'zxcvbnm12345',
  'gatehouse1234',
  'gatehouseadmin',
  'adminadmin123',
  'adminpassword',
  'superuser1234',
  'secretpassword',
  'mysecretpassword',
  'football1234',
  'baseball1234',
  'sunshine1234',
  'princess1234',
  'dragon123456',
  'monkey123456',
  'starwars1234',
  'whatever1234',
  'master123456',
  '000000000000',
  '111111111111',
  '121212121212',
  '123123123123',
  '987654321098',
  '098765432109',
  'qwertyqwerty',
  'asdfghjkl123',
  'asdfasdfasdf',
  'iloveyouiloveyou',
]);

/** Length is enforced by the input schema; this adds what needs context: common lists and the username. */
export function passwordPolicyProblems(password: string, username?: string): FieldErrors | undefined {
  const lowered = password.toLowerCase();
  if (commonLongPasswords.has(lowered)) {
    return { password: ['is a commonly used password; choose another'] };
  }
  if (username && lowered.includes(username.toLowerCase())) {
    return { password: ['must not contain the username'] };
  }
  if (new Set(password).size < 4) return { password: ['uses too few distinct characters'] };
  return undefined;
}
