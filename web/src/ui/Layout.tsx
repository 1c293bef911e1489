import { type JSX, Show } from 'solid-js';
import { Button } from './Button.js';

export function PageHeader(props: {
  title: string;
  /** Shown beside the title (for example a "built-in" badge). */
  badge?: JSX.Element;
  description?: JSX.Element;
  /** A line of facts under the description ("3 members · Created …"). */
  meta?: JSX.Element;
  actions?: JSX.Element;
}) {
  return (
    <div class="page-header">
      <div class="page-heading">
        <div class="row">
          <h1 class="page-title">{props.title}</h1>
          {props.badge}
        </div>
        <Show when={props.description}>
          <p class="page-description">{props.description}</p>
        </Show>
        <Show when={props.meta}>
          <p class="page-meta">{props.meta}</p>
        </Show>
      </div>
      <Show when={props.actions}>
        <div class="page-actions">{props.actions}</div>
      </Show>
    </div>
  );
}

/** "Showing 1–25 of 80" with previous and next buttons. */
export function Pagination(props: {
  offset: number;
  limit: number;
  total: number;
  onChange: (offset: number) => void;
  disabled?: boolean;
  noun?: string;
}) {
  const first = () => (props.total === 0 ? 0 : props.offset + 1);
  const last = () => Math.min(props.offset + props.limit, props.total);
  return (
    <nav class="pagination" aria-label={`${props.noun ?? 'Results'} pages`}>
      <p class="pagination-status">
        Showing {first()}–{last()} of {props.total}
      </p>
      <div class="pagination-buttons">
        <Button
          size="sm"
          disabled={props.disabled || props.offset === 0}
          onClick={() => props.onChange(Math.max(0, props.offset - props.limit))}
        >
          Previous
        </Button>
        <Button
          size="sm"
          disabled={props.disabled || props.offset + props.limit >= props.total}
          onClick={() => props.onChange(props.offset + props.limit)}
        >
          Next
        </Button>
      </div>
    </nav>
  );
}

export function Loading(props: { label: string }) {
  return (
    <p class="loading" role="status">
      {props.label}
    </p>
  );
}
