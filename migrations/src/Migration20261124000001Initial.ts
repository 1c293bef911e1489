import { Migration } from '@mikro-orm/migrations';

/** Identity, portal sessions, API tokens, and the append-only hash-chained audit trail. */
export class Migration20261124000001Initial extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "audit_chain_head" ("id" int not null, "last_seq" bigint not null, "last_hash" varchar(64) not null, constraint "audit_chain_head_pkey" primary key ("id"));`,
    );

    this.addSql(
      `create table "audit_event" ("id" bigint not null, "occurred_at" timestamptz not null, "action" varchar(64) not null, "actor_type" varchar(16) not null, "actor_user_id" varchar(48) null, "actor_token_id" varchar(48) null, "actor_client_id" varchar(48) null, "actor_label" varchar(128) null, "target_type" varchar(32) null, "target_id" varchar(128) null, "target_label" varchar(256) null, "outcome" varchar(16) not null, "reason" varchar(500) null, "ip" varchar(64) null, "request_id" varchar(64) null, "details" jsonb not null, "prev_hash" varchar(64) not null, "hash" varchar(64) not null, constraint "audit_event_pkey" primary key ("id"));`,
    );
    this.addSql(`create index "audit_event_occurred_at_index" on "audit_event" ("occurred_at");`);
    this.addSql(`create index "audit_event_action_index" on "audit_event" ("action");`);
    this.addSql(`create index "audit_event_actor_user_id_index" on "audit_event" ("actor_user_id");`);
    this.addSql(`alter table "audit_event" add constraint "audit_event_hash_unique" unique ("hash");`);
    this.addSql(
      `create index "audit_event_target_type_target_id_index" on "audit_event" ("target_type", "target_id");`,
    );

    this.addSql(
      `create table "user_group" ("id" varchar(48) not null, "name" varchar(64) not null, "description" varchar(1000) not null, "built_in" boolean not null, "created_at" timestamptz not null, constraint "user_group_pkey" primary key ("id"));`,
    );
    this.addSql(`alter table "user_group" add constraint "user_group_name_unique" unique ("name");`);

    this.addSql(
      `create table "installation" ("id" int not null, "setup_completed_at" timestamptz null, constraint "installation_pkey" primary key ("id"));`,
    );

    this.addSql(
      `create table "app_user" ("id" varchar(48) not null, "username" varchar(64) not null, "display_name" varchar(128) not null, "email" varchar(254) not null, "role" text check ("role" in ('admin', 'auditor', 'user')) not null, "status" text check ("status" in ('active', 'suspended')) not null, "password_hash" varchar(255) not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "last_login_at" timestamptz null, constraint "app_user_pkey" primary key ("id"));`,
    );
    this.addSql(`alter table "app_user" add constraint "app_user_username_unique" unique ("username");`);

    this.addSql(
      `create table "portal_session" ("id" varchar(48) not null, "token_hash" varchar(64) not null, "user_id" varchar(48) not null, "created_at" timestamptz not null, "last_seen_at" timestamptz not null, "expires_at" timestamptz not null, "ip" varchar(64) not null, "user_agent" varchar(256) not null, constraint "portal_session_pkey" primary key ("id"));`,
    );
    this.addSql(
      `alter table "portal_session" add constraint "portal_session_token_hash_unique" unique ("token_hash");`,
    );
    this.addSql(`create index "portal_session_user_id_index" on "portal_session" ("user_id");`);

    this.addSql(
      `create table "group_membership" ("group_id" varchar(48) not null, "user_id" varchar(48) not null, "created_at" timestamptz not null, constraint "group_membership_pkey" primary key ("group_id", "user_id"));`,
    );
    this.addSql(`create index "group_membership_user_id_index" on "group_membership" ("user_id");`);

    this.addSql(
      `create table "api_token" ("id" varchar(48) not null, "name" varchar(128) not null, "token_hash" varchar(64) not null, "display_prefix" varchar(16) not null, "role" text check ("role" in ('admin', 'auditor', 'user')) not null, "created_by_id" varchar(48) not null, "created_at" timestamptz not null, "expires_at" timestamptz null, "last_used_at" timestamptz null, "revoked_at" timestamptz null, constraint "api_token_pkey" primary key ("id"));`,
    );
    this.addSql(
      `alter table "api_token" add constraint "api_token_token_hash_unique" unique ("token_hash");`,
    );
    this.addSql(`create index "api_token_created_by_id_index" on "api_token" ("created_by_id");`);

    this.addSql(
      `alter table "portal_session" add constraint "portal_session_user_id_foreign" foreign key ("user_id") references "app_user" ("id") on update cascade on delete cascade;`,
    );

    this.addSql(
      `alter table "group_membership" add constraint "group_membership_group_id_foreign" foreign key ("group_id") references "user_group" ("id") on update cascade on delete cascade;`,
    );
    this.addSql(
      `alter table "group_membership" add constraint "group_membership_user_id_foreign" foreign key ("user_id") references "app_user" ("id") on update cascade on delete cascade;`,
    );

    this.addSql(
      `alter table "api_token" add constraint "api_token_created_by_id_foreign" foreign key ("created_by_id") references "app_user" ("id") on update cascade on delete cascade;`,
    );

    // The audit trail is append-only for everyone who goes through the application: any UPDATE, DELETE or
    // TRUNCATE raises. Retention (later) drops whole partitions under a separate, audited maintenance path.
    this.addSql(`create function audit_event_append_only() returns trigger language plpgsql as $$
begin
  raise exception 'audit_event is append-only (% refused)', tg_op using errcode = 'insufficient_privilege';
end $$;`);
    this.addSql(`create trigger audit_event_no_update_delete before update or delete on "audit_event"
  for each row execute function audit_event_append_only();`);
    this.addSql(`create trigger audit_event_no_truncate before truncate on "audit_event"
  for each statement execute function audit_event_append_only();`);
    this.addSql(
      `insert into "audit_chain_head" ("id", "last_seq", "last_hash") values (1, 0, '${'0'.repeat(64)}');`,
    );
    this.addSql(`insert into "installation" ("id", "setup_completed_at") values (1, null);`);
    this.addSql(`insert into "user_group" ("id", "name", "description", "built_in", "created_at")
  values ('grp_builtinEveryone', 'everyone', 'Every user, implicitly', true, now());`);
  }
}
