import { createSignal } from 'solid-js';
import { currentHash } from './router.js';

/**
 * A one-off success message ("User alice was created") tied to the screen it is about. It shows only on that
 * screen, so it can be set just before navigating there, and it is dropped once the user moves elsewhere.
 */
const [flash, setFlash] = createSignal<{ message: string; hash: string } | null>(null);

export function showFlash(message: string, hash: string = currentHash()) {
  setFlash({ message, hash });
}

export function dismissFlash() {
  setFlash(null);
}

export function flashMessage(): string | null {
  const current = flash();
  return current && current.hash === currentHash() ? current.message : null;
}

/** Called on every navigation: forget a message that belongs to another screen. */
export function dropStaleFlash(hash: string) {
  const current = flash();
  if (current && current.hash !== hash) setFlash(null);
}
