import { Migration } from '@mikro-orm/migrations';
/** Downstream OAuth: authorization requests in flight and users' connections (tokens are vault rows). */

export class Migration20261124000007OAuth extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "oauth_state" ("id" varchar(64) not null, "user_id" varchar(48) not null, "session_id" varchar(48) not null, "mcp_id" varchar(48) not null, "verifier_sealed" text not null, "redirect_uri" varchar(2048) not null, "created_at" timestamptz not null, "expires_at" timestamptz not null, "used_at" timestamptz null, constraint "oauth_state_pkey" primary key ("id"));`,
    );
    this.addSql(`create index "oauth_state_user_id_index" on "oauth_state" ("user_id");`);

    this.addSql(
      `create table "oauth_connection" ("id" varchar(48) not null, "user_id" varchar(48) not null, "mcp_id" varchar(48) not null, "status" text check ("status" in ('connected', 'reconnect_needed')) not null, "scopes" jsonb not null, "expires_at" timestamptz null, "has_refresh_token" boolean not null, "connected_at" timestamptz not null, "refreshed_at" timestamptz null, constraint "oauth_connection_pkey" primary key ("id"));`,
    );
    this.addSql(`create index "oauth_connection_mcp_id_index" on "oauth_connection" ("mcp_id");`);
    this.addSql(
      `alter table "oauth_connection" add constraint "oauth_connection_user_id_mcp_id_unique" unique ("user_id", "mcp_id");`,
    );

    this.addSql(
      `alter table "oauth_state" add constraint "oauth_state_user_id_foreign" foreign key ("user_id") references "app_user" ("id") on update cascade on delete cascade;`,
    );
    this.addSql(
      `alter table "oauth_state" add constraint "oauth_state_mcp_id_foreign" foreign key ("mcp_id") references "mcp_server" ("id") on update cascade on delete cascade;`,
    );

    this.addSql(
      `alter table "oauth_connection" add constraint "oauth_connection_user_id_foreign" foreign key ("user_id") references "app_user" ("id") on update cascade on delete cascade;`,
    );
    this.addSql(
      `alter table "oauth_connection" add constraint "oauth_connection_mcp_id_foreign" foreign key ("mcp_id") references "mcp_server" ("id") on update cascade on delete cascade;`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "oauth_state" cascade;`);

    this.addSql(`drop table if exists "oauth_connection" cascade;`);
  }
}
