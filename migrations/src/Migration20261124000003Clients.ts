import { Migration } from '@mikro-orm/migrations';

export class Migration20261124000003Clients extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "mcp_client" ("id" varchar(48) not null, "user_id" varchar(48) not null, "name" varchar(128) not null, "kind" text check ("kind" in ('claude-code', 'claude-desktop', 'vscode', 'cursor', 'agent', 'other')) not null, "status" text check ("status" in ('active', 'suspended', 'revoked')) not null, "key_hash" varchar(64) not null, "key_prefix" varchar(16) not null, "created_at" timestamptz not null, "last_seen_at" timestamptz null, "last_seen_ip" varchar(64) null, constraint "mcp_client_pkey" primary key ("id"));`,
    );
    this.addSql(`create index "mcp_client_user_id_index" on "mcp_client" ("user_id");`);
    this.addSql(`alter table "mcp_client" add constraint "mcp_client_key_hash_unique" unique ("key_hash");`);

    this.addSql(
      `create table "client_subscription" ("id" varchar(48) not null, "client_id" varchar(48) not null, "mcp_id" varchar(48) not null, "tools" jsonb null, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "client_subscription_pkey" primary key ("id"));`,
    );
    this.addSql(`create index "client_subscription_mcp_id_index" on "client_subscription" ("mcp_id");`);
    this.addSql(
      `alter table "client_subscription" add constraint "client_subscription_client_id_mcp_id_unique" unique ("client_id", "mcp_id");`,
    );

    this.addSql(
      `alter table "mcp_client" add constraint "mcp_client_user_id_foreign" foreign key ("user_id") references "app_user" ("id") on update cascade on delete cascade;`,
    );

    this.addSql(
      `alter table "client_subscription" add constraint "client_subscription_client_id_foreign" foreign key ("client_id") references "mcp_client" ("id") on update cascade on delete cascade;`,
    );
    this.addSql(
      `alter table "client_subscription" add constraint "client_subscription_mcp_id_foreign" foreign key ("mcp_id") references "mcp_server" ("id") on update cascade on delete cascade;`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "client_subscription" drop constraint "client_subscription_client_id_foreign";`);

    this.addSql(`drop table if exists "mcp_client" cascade;`);

    this.addSql(`drop table if exists "client_subscription" cascade;`);
  }
}
