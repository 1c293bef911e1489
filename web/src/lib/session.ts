import type { Me, Role } from '@gatehouse/schema';
import { createSignal } from 'solid-js';
import { onCallError, setCsrfToken } from './trpc.js';

export const SESSION_ENDED_MESSAGE = 'Your session has ended; sign in again';

const [me, setMe] = createSignal<Me | null>(null);
/** Shown on the sign-in screen: why the user is there (signed out, session ended). */
const [signInNotice, setSignInNotice] = createSignal<string | null>(null);

export { me, signInNotice };

export function signedIn(principal: Me) {
  setCsrfToken(principal.csrfToken);
  setSignInNotice(null);
  setMe(principal);
}

export function signedOut(notice: string | null = null) {
  setCsrfToken(null);
  setMe(null);
  setSignInNotice(notice);
}

export const role = (): Role | undefined => me()?.user.role;
/** Admins change things; auditors only look. */
export const canManage = () => role() === 'admin';

// A signed-in user whose call comes back UNAUTHENTICATED has lost the session (expired, idle, suspended, or
// signed out elsewhere): return to sign-in and say so, whatever screen made the call. A failed sign-in is
// UNAUTHENTICATED too, but nobody is signed in then.
onCallError((error, path) => {
  if (me() && error.data?.gatehouseCode === 'UNAUTHENTICATED' && path !== 'auth.login') {
    signedOut(SESSION_ENDED_MESSAGE);
  }
});
