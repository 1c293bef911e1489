import { Migration } from '@mikro-orm/migrations';

export class Migration20261124000002Catalog extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "mcp_server" ("id" varchar(48) not null, "slug" varchar(24) not null, "name" varchar(128) not null, "description" varchar(1000) not null, "icon_url" varchar(2048) null, "status" text check ("status" in ('draft', 'published', 'archived')) not null, "live_version_id" varchar(48) null, "candidate_version_id" varchar(48) null, "next_version" int not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "mcp_server_pkey" primary key ("id"));`,
    );
    this.addSql(`alter table "mcp_server" add constraint "mcp_server_slug_unique" unique ("slug");`);

    this.addSql(
      `create table "mcp_pin" ("mcp_id" varchar(48) not null, "kind" text check ("kind" in ('tool', 'prompt')) not null, "name" varchar(256) not null, "state" text check ("state" in ('approved', 'changed', 'new', 'removed', 'rejected')) not null, "approved_definition" jsonb null, "approved_hash" varchar(64) null, "observed_definition" jsonb null, "observed_hash" varchar(64) null, "changed_at" timestamptz null, "decided_at" timestamptz null, "decided_by" varchar(48) null, constraint "mcp_pin_pkey" primary key ("mcp_id", "kind", "name"));`,
    );

    this.addSql(
      `create table "mcp_grant" ("mcp_id" varchar(48) not null, "group_id" varchar(48) not null, "created_at" timestamptz not null, constraint "mcp_grant_pkey" primary key ("mcp_id", "group_id"));`,
    );
    this.addSql(`create index "mcp_grant_group_id_index" on "mcp_grant" ("group_id");`);

    this.addSql(
      `create table "mcp_version" ("id" varchar(48) not null, "mcp_id" varchar(48) not null, "version" int not null, "config" jsonb not null, "validation_status" text check ("validation_status" in ('pending', 'valid', 'invalid')) not null, "validation_errors" jsonb not null, "discovery" jsonb null, "created_at" timestamptz not null, "created_by" varchar(48) null, constraint "mcp_version_pkey" primary key ("id"));`,
    );
    this.addSql(
      `alter table "mcp_version" add constraint "mcp_version_mcp_id_version_unique" unique ("mcp_id", "version");`,
    );

    this.addSql(
      `alter table "mcp_pin" add constraint "mcp_pin_mcp_id_foreign" foreign key ("mcp_id") references "mcp_server" ("id") on update cascade on delete cascade;`,
    );

    this.addSql(
      `alter table "mcp_grant" add constraint "mcp_grant_mcp_id_foreign" foreign key ("mcp_id") references "mcp_server" ("id") on update cascade on delete cascade;`,
    );
    this.addSql(
      `alter table "mcp_grant" add constraint "mcp_grant_group_id_foreign" foreign key ("group_id") references "user_group" ("id") on update cascade on delete cascade;`,
    );

    this.addSql(
      `alter table "mcp_version" add constraint "mcp_version_mcp_id_foreign" foreign key ("mcp_id") references "mcp_server" ("id") on update cascade on delete cascade;`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "mcp_pin" drop constraint "mcp_pin_mcp_id_foreign";`);

    this.addSql(`alter table "mcp_grant" drop constraint "mcp_grant_mcp_id_foreign";`);

    this.addSql(`alter table "mcp_version" drop constraint "mcp_version_mcp_id_foreign";`);

    this.addSql(`drop table if exists "mcp_server" cascade;`);

    this.addSql(`drop table if exists "mcp_pin" cascade;`);

    this.addSql(`drop table if exists "mcp_grant" cascade;`);

    this.addSql(`drop table if exists "mcp_version" cascade;`);
  }
}
