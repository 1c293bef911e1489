/**
 * Brings a person back to the consent screen after a sign-in that leaves the page (single sign-on goes to the
 * identity provider and may come back to the portal's root, without the `#/consent/<uid>` hash). The uid is
 * kept in this tab's sessionStorage only while the sign-in screen stands in for the consent screen, and is
 * used once.
 */
const KEY = 'gatehouse.pendingConsent';
/** An oidc-provider interaction uid: short, URL-safe. Anything else is not restored. */
const UID = /^[A-Za-z0-9_-]{1,128}$/;

type Store = Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;

const storage = (): Store | undefined => {
  try {
    return window.sessionStorage;
  } catch {
    return undefined;
  }
};

export function rememberConsent(uid: string, store: Store | undefined = storage()): void {
  if (UID.test(uid)) store?.setItem(KEY, uid);
}

/** The remembered uid, removed as it is read; undefined when there is none (or it is not a uid). */
export function takeRememberedConsent(store: Store | undefined = storage()): string | undefined {
  const uid = store?.getItem(KEY) ?? null;
  store?.removeItem(KEY);
  return uid !== null && UID.test(uid) ? uid : undefined;
}
