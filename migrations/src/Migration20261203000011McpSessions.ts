import { Migration } from '@mikro-orm/migrations';

/**
 * MCP sessions as rows (ADR 0030), so that any Gatehouse process on the database can serve a session another
 * one opened. The key is the SHA-256 of the session id: a leaked table hands out no live id. Bounded columns:
 * the store refuses larger values before writing; the checks are a backstop, at twice the store's bounds
 * because jsonb's text form spaces out what `JSON.stringify` wrote. Indexed only for what is queried:
 * sessions per client (the session limit) and idle expiry.
 */
export class Migration20261203000011McpSessions extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create table "mcp_session" (
      "id_hash" varchar(64) not null,
      "key_hash" varchar(64) not null,
      "client_id" varchar(48) not null,
      "user_id" varchar(48) not null,
      "view" varchar(24) null,
      "protocol_version" varchar(32) not null,
      "client_capabilities" jsonb not null,
      "client_info" jsonb not null,
      "log_level" text check ("log_level" in ('debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency')) not null,
      "subscriptions" jsonb not null,
      "created_at" timestamptz not null,
      "last_activity_at" timestamptz not null,
      constraint "mcp_session_pkey" primary key ("id_hash"),
      constraint "mcp_session_client_capabilities_size" check (octet_length("client_capabilities"::text) <= 32768),
      constraint "mcp_session_client_info_size" check (octet_length("client_info"::text) <= 8192),
      constraint "mcp_session_subscriptions_size" check (jsonb_typeof("subscriptions") = 'array' and jsonb_array_length("subscriptions") <= 100)
    );`);
    this.addSql(`create index "mcp_session_client_id_index" on "mcp_session" ("client_id");`);
    this.addSql(`create index "mcp_session_last_activity_at_index" on "mcp_session" ("last_activity_at");`);
    this.addSql(
      `alter table "mcp_session" add constraint "mcp_session_client_id_foreign" foreign key ("client_id") references "mcp_client" ("id") on update cascade on delete cascade;`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "mcp_session" cascade;`);
  }
}
