import { Migration } from '@mikro-orm/migrations';

/** The two rollup families of migration 0008: table prefix and the keys each row keeps. */
const families = [
  { prefix: 'audit_usage', keys: ['mcp_id', 'tool'] },
  { prefix: 'audit_actor_usage', keys: ['user_id', 'client_id'] },
];
const periods = [
  ['hourly', 'hour'],
  ['daily', 'day'],
] as const;

/** One rollup's upsert from the `cells` of the fold (see below), as a data-modifying CTE. */
function upsert(table: string, period: 'hour' | 'day', keys: string[]): string {
  const columns = keys.join(', ');
  const start = period === 'hour' ? 'hour' : `date_trunc('day', hour, 'UTC')`;
  return `insert into ${table} as usage (period_start, ${columns}, call_status, calls, result_bytes, durations)
  select period_start, ${columns}, call_status, sum(calls), sum(bytes),
         coalesce(jsonb_object_agg(duration_bucket, calls) filter (where duration_bucket <> -32768), '{}')
    from (select ${start} as period_start, ${columns}, call_status, duration_bucket,
                 sum(calls) as calls, sum(bytes) as bytes
            from cells group by 1, 2, 3, 4, 5) as per_bucket
   group by 1, 2, 3, 4
  on conflict (period_start, ${columns}, call_status) do update
    set calls = usage.calls + excluded.calls,
        result_bytes = usage.result_bytes + excluded.result_bytes,
        durations = audit_histogram_merge(usage.durations, excluded.durations)
  returning 1`;
}

/**
 * Cheaper audit ingest (ADR 0027). The usage rollups leave the insert path: the statement trigger of
 * migration 0008 is dropped and `audit_fold_usage` folds the events above a stored watermark into the four
 * rollups in one transaction, under an advisory lock so one replica at a time folds. Readers add the events
 * above the watermark to the rollups, so usage stays exact. The indexes no explorer, export or chain query
 * needs are dropped, and the action index no longer covers tool calls (see the ADR for which query uses which).
 */
export class Migration20261203000012AuditIngest extends Migration {
  override async up(): Promise<void> {
    this.addSql(`drop trigger "audit_event_usage_rollup" on "audit_event";`);
    this.addSql(`drop function audit_usage_rollup();`);

    // Everything written so far was rolled up by the trigger: the watermark starts at the chain's head.
    this.addSql(`create table "audit_usage_watermark" (
  "id" int not null check ("id" = 1),
  "through_id" bigint not null,
  constraint "audit_usage_watermark_pkey" primary key ("id")
);`);
    this.addSql(`insert into "audit_usage_watermark" ("id", "through_id")
  select 1, last_seq from audit_chain_head where id = 1;`);

    // Folds at most `max_events` events above the watermark; returns how many it read, or -1 when another
    // session is folding. Events commit in id order (every appender holds the chain head's row lock until
    // it commits), so once an id is visible every smaller id is too and the watermark never skips one.
    const statements = families.flatMap(({ prefix, keys }) =>
      periods.map(([suffix, period]) => upsert(`${prefix}_${suffix}`, period, keys)),
    );
    this.addSql(`create function audit_fold_usage(max_events integer) returns integer
  language plpgsql as $$
declare
  from_id bigint;
  to_id bigint;
  events integer;
begin
  if not pg_try_advisory_xact_lock(hashtext('gatehouse audit usage')) then
    return -1;
  end if;
  select through_id into from_id from audit_usage_watermark where id = 1;
  select max(id), count(*) into to_id, events
    from (select id from audit_event where id > from_id order by id limit max_events) as pending;
  if to_id is null then
    return 0;
  end if;
  with cells as materialized (
    select date_trunc('hour', occurred_at, 'UTC') as hour,
           coalesce(case when target_type = 'mcp' then target_id end, '')::varchar(128) as mcp_id,
           tool,
           coalesce(actor_user_id, '')::varchar(48) as user_id,
           coalesce(actor_client_id, '')::varchar(48) as client_id,
           call_status, audit_duration_bucket(duration_ms) as duration_bucket,
           count(*) as calls, coalesce(sum(result_bytes), 0) as bytes
      from audit_event
     where id > from_id and id <= to_id and call_status is not null and tool is not null
     group by 1, 2, 3, 4, 5, 6, 7
  ),
${statements.map((statement, index) => `  r${index} as (${statement})`).join(',\n')}
  select count(*) into from_id from r0;
  update audit_usage_watermark set through_id = to_id where id = 1;
  return events;
end $$;`);
    // As the owner (the application role only reads the rollups), with the search path pinned to this schema
    // and pg_temp last, so a caller's temporary table cannot stand in for ours.
    this.addSql(`do $$ begin
  execute format('alter function audit_fold_usage(integer) security definer set search_path = %I, pg_temp',
    current_schema());
end $$;`);

    // Served by the primary key (id, occurred_at) with partition pruning: ids grow with time.
    this.addSql(`drop index "audit_event_at_index";`);
    // Type filters for anything but tool calls (the bulk of the trail, found quickly by the primary key).
    this.addSql(`drop index "audit_event_action_id_index";`);
    this.addSql(
      `create index "audit_event_action_id_index" on "audit_event" ("action", "id") where "action" <> 'tool.call';`,
    );
  }

  override async down(): Promise<void> {
    throw new Error('migration 0012 cannot be migrated down; restore the rollup trigger by hand if needed');
  }
}
