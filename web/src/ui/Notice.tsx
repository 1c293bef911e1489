import { type JSX, Show } from 'solid-js';
import type { AppError } from '../lib/errors.js';

export type NoticeTone = 'info' | 'success' | 'warning' | 'error';

/** An inline message. Errors interrupt screen readers (role=alert); the rest are polite status updates. */
export function Notice(props: {
  tone: NoticeTone;
  title?: string;
  children?: JSX.Element;
  onDismiss?: () => void;
}) {
  return (
    <div class={`notice notice-${props.tone}`} role={props.tone === 'error' ? 'alert' : 'status'}>
      <div class="notice-body">
        <Show when={props.title}>
          <p class="notice-title">{props.title}</p>
        </Show>
        <Show when={props.children}>
          <div class="notice-text">{props.children}</div>
        </Show>
      </div>
      <Show when={props.onDismiss}>
        {(dismiss) => (
          <button type="button" class="notice-dismiss" aria-label="Dismiss" onClick={() => dismiss()()}>
            ×
          </button>
        )}
      </Show>
    </div>
  );
}

/** The standard presentation of a failed call, with the request id support will ask for. */
export function ErrorNotice(props: { error: AppError | undefined; title?: string; onDismiss?: () => void }) {
  return (
    <Show when={props.error}>
      {(error) => (
        <Notice tone="error" title={props.title ?? error().message} onDismiss={props.onDismiss}>
          <Show when={props.title}>
            <p>{error().message}</p>
          </Show>
          <Show when={error().requestId}>
            <p class="notice-meta">Request ID: {error().requestId}</p>
          </Show>
        </Notice>
      )}
    </Show>
  );
}
