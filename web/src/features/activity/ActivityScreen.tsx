import type { Me } from '@gatehouse/schema';
import { onMount } from 'solid-js';
import { refreshEvery } from '../../lib/async.js';
import { PageHeader } from '../../ui/index.js';
import { createEventList, EventTable } from '../audit/EventList.js';
import { UsagePanel } from '../audit/UsagePanel.js';

/** A person's own recent calls and usage: the server limits a `user` to events they caused. */
export function ActivityScreen(props: { me: Me }) {
  // Auditors and admins see everyone's events in the explorer; here everyone sees their own.
  const list = createEventList(() => ({ actorUserId: props.me.user.id }), 25);
  onMount(() => void list.reload());
  // Only while the first page is shown: a refresh must not take away pages the person loaded.
  refreshEvery(
    {
      refetch: async () => (list.loading() || (list.events()?.length ?? 0) > 25 ? undefined : list.reload()),
    },
    30_000,
  );
  return (
    <>
      <PageHeader
        title="My activity"
        description="Your clients' recent tool calls and what they used, newest first."
      />
      <UsagePanel title="My tool calls" groups={['TOOL', 'MCP']} />
      <section class="card stack" aria-label="My recent events">
        <h2 class="card-title">Recent events</h2>
        <EventTable
          caption="My recent audit events"
          list={list}
          empty="No activity yet. Calls your clients make appear here."
        />
      </section>
    </>
  );
}
