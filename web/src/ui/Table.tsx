import { For, type JSX, Show } from 'solid-js';

export interface Column<T> {
  header: JSX.Element;
  cell: (row: T) => JSX.Element;
  /** Extra class for this column's header and cells (`col-actions`, `col-num`, `col-wrap`). */
  class?: string;
}

/**
 * A data table with a caption for assistive technology, a loading state and an empty state. Wide tables
 * scroll sideways inside their own frame on narrow screens.
 */
export function Table<T>(props: {
  caption: string;
  columns: readonly Column<T>[];
  rows: readonly T[] | undefined;
  loading?: boolean;
  empty: JSX.Element;
}) {
  return (
    <div class="table-frame" aria-busy={props.loading ? 'true' : undefined}>
      <table class="table" classList={{ 'table-refreshing': Boolean(props.loading && props.rows) }}>
        <caption class="sr-only">{props.caption}</caption>
        <thead>
          <tr>
            <For each={props.columns}>
              {(column) => (
                <th scope="col" class={column.class}>
                  {column.header}
                </th>
              )}
            </For>
          </tr>
        </thead>
        <tbody>
          <Show
            when={props.rows && props.rows.length > 0}
            fallback={
              <tr>
                <td class="table-placeholder" colSpan={props.columns.length}>
                  <Show when={!props.rows && props.loading} fallback={props.empty}>
                    <span class="loading">Loading…</span>
                  </Show>
                </td>
              </tr>
            }
          >
            <For each={props.rows}>
              {(row) => (
                <tr>
                  <For each={props.columns}>
                    {(column) => <td class={column.class}>{column.cell(row)}</td>}
                  </For>
                </tr>
              )}
            </For>
          </Show>
        </tbody>
      </table>
    </div>
  );
}
