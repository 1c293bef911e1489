import { Migration } from '@mikro-orm/migrations';

/**
 * The audit trail at scale (ADR 0013): `audit_event` becomes a table partitioned by month on `occurred_at`,
 * with the tool-call facts the explorer filters and aggregates on as generated columns (derived from the
 * hashed `details`, so the chain still covers them), an hourly usage rollup kept by a statement trigger in
 * the inserting transaction, and chain checkpoints so verification survives retention.
 */
export class Migration20261124000008AuditExplorer extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "audit_event" rename to "audit_event_unpartitioned";`);

    // Buckets of a log-scale duration histogram (factor 1.1): any percentile read from it is within 4.8% of
    // the exact value. -49 holds durations under 0.01 ms; -32768 means "no duration" (refused calls).
    this.addSql(`create function audit_duration_bucket(ms numeric) returns smallint
  language sql immutable parallel safe as $$
  select case
    when ms is null then -32768
    when ms < 0.01 then -49
    else least(ceil(ln(ms) / ln(1.1)), 200)
  end::smallint
$$;`);

    this.addSql(`create table "audit_event" (
  "id" bigint not null,
  "occurred_at" timestamptz not null,
  "action" varchar(64) not null,
  "actor_type" varchar(16) not null,
  "actor_user_id" varchar(48) null,
  "actor_token_id" varchar(48) null,
  "actor_client_id" varchar(48) null,
  "actor_label" varchar(128) null,
  "target_type" varchar(32) null,
  "target_id" varchar(128) null,
  "target_label" varchar(256) null,
  "outcome" varchar(16) not null,
  "reason" varchar(500) null,
  "ip" varchar(64) null,
  "request_id" varchar(64) null,
  "details" jsonb not null,
  "prev_hash" varchar(64) not null,
  "hash" varchar(64) not null,
  "tool" varchar(256) generated always as (
    case when action in ('tool.call', 'tool.denied') then left(details ->> 'tool', 256) end) stored,
  "call_status" varchar(16) generated always as (
    case when action = 'tool.denied' then 'denied'
         when action = 'tool.call' then left(details ->> 'status', 16) end) stored,
  "duration_ms" numeric generated always as (
    case when action = 'tool.call' and jsonb_typeof(details -> 'durationMs') = 'number'
         then (details -> 'durationMs')::numeric end) stored,
  "result_bytes" numeric generated always as (
    case when action = 'tool.call' and jsonb_typeof(details -> 'resultBytes') = 'number'
         then (details -> 'resultBytes')::numeric end) stored,
  constraint "audit_event_id_occurred_at_pkey" primary key ("id", "occurred_at")
) partition by range ("occurred_at");`);
    this.addSql(`create index "audit_event_at_index" on "audit_event" ("occurred_at");`);
    this.addSql(`create index "audit_event_action_id_index" on "audit_event" ("action", "id");`);
    this.addSql(
      `create index "audit_event_actor_user_id_id_index" on "audit_event" ("actor_user_id", "id");`,
    );
    this.addSql(
      `create index "audit_event_actor_client_id_id_index" on "audit_event" ("actor_client_id", "id") where "actor_client_id" is not null;`,
    );
    this.addSql(
      `create index "audit_event_target_id_index" on "audit_event" ("target_type", "target_id", "id");`,
    );
    this.addSql(
      `create index "audit_event_tool_id_index" on "audit_event" ("tool", "id") where "tool" is not null;`,
    );
    this.addSql(
      `create index "audit_event_reason_search_index" on "audit_event" using gin (to_tsvector('simple', "reason")) where "reason" is not null;`,
    );

    // Row triggers on the parent are cloned to every partition; TRUNCATE triggers are not, so each partition
    // gets its own when it is created.
    this.addSql(`create trigger audit_event_no_update_delete before update or delete on "audit_event"
  for each row execute function audit_event_append_only();`);
    this.addSql(`create trigger audit_event_no_truncate before truncate on "audit_event"
  for each statement execute function audit_event_append_only();`);

    this.addSql(`create function audit_ensure_partitions(from_at timestamptz, to_at timestamptz) returns void
  language plpgsql as $$
declare
  month_start timestamptz := date_trunc('month', from_at, 'UTC');
  partition_name text;
begin
  while month_start < to_at loop
    partition_name := 'audit_event_p' || to_char(month_start at time zone 'UTC', 'YYYY_MM');
    if to_regclass(partition_name) is null then
      execute format('create table %I partition of audit_event for values from (%L) to (%L)',
        partition_name, month_start, month_start + interval '1 month');
      execute format('create trigger audit_event_no_truncate before truncate on %I
        for each statement execute function audit_event_append_only()', partition_name);
    end if;
    month_start := month_start + interval '1 month';
  end loop;
end $$;`);

    // Usage rollups per hour and per day, in two families: by MCP and tool, and by user and client (for
    // questions about people, and for users reading their own usage). Each row holds its calls' duration
    // histogram as {bucket: count}, so percentiles of any union of rows stay exact to the histogram's resolution.
    const families = [
      {
        prefix: 'audit_usage',
        keys: [
          ['mcp_id', `coalesce(case when target_type = 'mcp' then target_id end, '')`, 'varchar(128)'],
          ['tool', 'tool', 'varchar(256)'],
        ],
      },
      {
        prefix: 'audit_actor_usage',
        keys: [
          ['user_id', `coalesce(actor_user_id, '')`, 'varchar(48)'],
          ['client_id', `coalesce(actor_client_id, '')`, 'varchar(48)'],
        ],
      },
    ];
    const periods = [
      ['hourly', 'hour'],
      ['daily', 'day'],
    ];
    for (const { prefix, keys } of families) {
      for (const [suffix] of periods) {
        this.addSql(`create table "${prefix}_${suffix}" (
  "period_start" timestamptz not null,
  ${keys.map(([column, , type]) => `"${column}" ${type} not null,`).join('\n  ')}
  "call_status" varchar(16) not null,
  "calls" bigint not null,
  "result_bytes" numeric not null,
  "durations" jsonb not null,
  constraint "${prefix}_${suffix}_pkey" primary key ("period_start", ${keys.map(([column]) => `"${column}"`).join(', ')}, "call_status")
);`);
      }
    }
    this.addSql(`create function audit_histogram_merge(a jsonb, b jsonb) returns jsonb
  language sql immutable parallel safe as $$
  select coalesce(jsonb_object_agg(bucket, total), '{}'::jsonb)
    from (select bucket, sum(count::bigint) as total
            from (select * from jsonb_each_text(a) union all select * from jsonb_each_text(b)) as cells(bucket, count)
           group by bucket) as merged
$$;`);
    // One aggregate upsert per rollup and inserting statement, in its transaction: the rollups always equal
    // the trail. Appenders are serialized by the chain head, so these upserts never contend with each other.
    const rollupInto = (table: string, period: string, keys: string[][]) => {
      const columns = keys.map(([column]) => column).join(', ');
      return `
  insert into ${table} as usage (period_start, ${columns}, call_status, calls, result_bytes, durations)
  select period_start, ${columns}, call_status, sum(calls), sum(bytes),
         coalesce(jsonb_object_agg(duration_bucket, calls) filter (where duration_bucket <> -32768), '{}')
    from (select date_trunc('${period}', occurred_at, 'UTC') as period_start,
                 ${keys.map(([column, expression]) => `${expression} as ${column}`).join(', ')},
                 call_status, audit_duration_bucket(duration_ms) as duration_bucket,
                 count(*) as calls, coalesce(sum(result_bytes), 0) as bytes
            from new_events
           where call_status is not null and tool is not null
           group by 1, 2, 3, 4, 5) as cells
   group by 1, 2, 3, 4
  on conflict (period_start, ${columns}, call_status) do update
    set calls = usage.calls + excluded.calls,
        result_bytes = usage.result_bytes + excluded.result_bytes,
        durations = audit_histogram_merge(usage.durations, excluded.durations);`;
    };
    this.addSql(`create function audit_usage_rollup() returns trigger language plpgsql as $$
begin
${families.flatMap(({ prefix, keys }) => periods.map(([suffix, period]) => rollupInto(`${prefix}_${suffix}`, period ?? '', keys))).join('\n')}
  return null;
end $$;`);
    // Both run as the owner (the application role may neither create partitions nor write the rollups), with
    // the search path pinned to this schema and pg_temp last, so a caller's temporary table cannot stand in
    // for ours; partition bounds are computed in UTC whatever the session's time zone.
    this.addSql(`do $$ begin
  execute format('alter function audit_ensure_partitions(timestamptz, timestamptz) security definer
    set search_path = %I, pg_temp set timezone = %L', current_schema(), 'UTC');
  execute format('alter function audit_usage_rollup() security definer set search_path = %I, pg_temp',
    current_schema());
end $$;`);
    this.addSql(`create trigger audit_event_usage_rollup after insert on "audit_event"
  referencing new table as new_events for each statement execute function audit_usage_rollup();`);

    this.addSql(`create table "audit_checkpoint" (
  "id" serial primary key,
  "through_id" bigint not null,
  "through_hash" varchar(64) not null,
  "dropped_events" bigint not null,
  "partition_name" varchar(64) not null,
  "archive_file" varchar(1024) null,
  "created_at" timestamptz not null
);`);
    this.addSql(`create trigger audit_checkpoint_append_only before update or delete on "audit_checkpoint"
  for each row execute function audit_event_append_only();`);
    this.addSql(`create trigger audit_checkpoint_no_truncate before truncate on "audit_checkpoint"
  for each statement execute function audit_event_append_only();`);

    this.addSql(`select audit_ensure_partitions(
  coalesce((select min(occurred_at) from audit_event_unpartitioned), now()), now() + interval '3 months');`);
    this.addSql(`insert into "audit_event" (id, occurred_at, action, actor_type, actor_user_id, actor_token_id,
  actor_client_id, actor_label, target_type, target_id, target_label, outcome, reason, ip, request_id, details,
  prev_hash, hash)
  select id, occurred_at, action, actor_type, actor_user_id, actor_token_id, actor_client_id, actor_label,
    target_type, target_id, target_label, outcome, reason, ip, request_id, details, prev_hash, hash
  from audit_event_unpartitioned order by id;`);
    this.addSql(`drop table "audit_event_unpartitioned";`);
  }

  override async down(): Promise<void> {
    throw new Error('the partitioned audit trail cannot be migrated down without rewriting the chain');
  }
}
