import { createSignal } from 'solid-js';
import { Button } from '../../ui/index.js';

/** Writes to the clipboard; false when the browser refuses (plain http, or permission denied). */
async function writeClipboard(text: string): Promise<boolean> {
  try {
    if (!navigator.clipboard) return false;
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false;
  }
}

/** Selects the text of an input, or of any other element, so the user can copy it by hand. */
function selectContents(element: HTMLElement) {
  element.focus();
  if (element instanceof HTMLInputElement || element instanceof HTMLTextAreaElement) {
    element.select();
    return;
  }
  const range = document.createRange();
  range.selectNodeContents(element);
  const selection = window.getSelection();
  selection?.removeAllRanges();
  selection?.addRange(range);
}

/**
 * "Copy", with a polite status message after it. When the clipboard is not available, the text in `target`
 * is selected instead and the message says how to copy it.
 */
export function CopyButton(props: {
  text: string;
  target: () => HTMLElement | undefined;
  /** An accessible name when "Copy" alone would be ambiguous ("Copy the Cursor snippet"). */
  label?: string;
  variant?: 'primary' | 'secondary';
  autofocus?: boolean;
}) {
  const [state, setState] = createSignal<'idle' | 'copied' | 'failed'>('idle');
  const copy = async () => {
    if (await writeClipboard(props.text)) return setState('copied');
    const target = props.target();
    if (target) selectContents(target);
    setState('failed');
  };
  return (
    <span class="ss-copy">
      <Button
        size="sm"
        variant={props.variant ?? 'secondary'}
        aria-label={props.label}
        autofocus={props.autofocus}
        onClick={() => void copy()}
      >
        Copy
      </Button>
      <span class="field-hint" role="status">
        {state() === 'copied'
          ? 'Copied.'
          : state() === 'failed'
            ? 'Selected: press Ctrl+C (⌘C on a Mac) to copy.'
            : ''}
      </span>
    </span>
  );
}
