import { Migration } from '@mikro-orm/migrations';

/**
 * Single sign-on for the portal (ADR 0032): OIDC providers, sign-ins in flight, the local-password setting,
 * users linked to a provider account by (provider, subject), provider-managed group memberships, and users
 * without a usable password.
 */
export class Migration20261203000013Sso extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "sso_provider" ("id" varchar(48) not null, "slug" varchar(32) not null, "display_name" varchar(64) not null, "issuer" varchar(2048) not null, "client_id" varchar(255) not null, "client_secret_sealed" text null, "scopes" jsonb not null, "groups_claim" varchar(128) not null, "group_mappings" jsonb not null, "role_mappings" jsonb not null, "allowed_domains" jsonb not null, "enabled" boolean not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "sso_provider_pkey" primary key ("id"));`,
    );
    this.addSql(`alter table "sso_provider" add constraint "sso_provider_slug_unique" unique ("slug");`);

    this.addSql(
      `create table "sso_login_state" ("id" varchar(64) not null, "provider_id" varchar(48) not null, "nonce" varchar(128) not null, "verifier_sealed" text not null, "browser_hash" varchar(64) not null, "return_to" varchar(256) not null, "created_at" timestamptz not null, "expires_at" timestamptz not null, "used_at" timestamptz null, constraint "sso_login_state_pkey" primary key ("id"));`,
    );
    this.addSql(`create index "sso_login_state_expires_at_index" on "sso_login_state" ("expires_at");`);
    this.addSql(
      `alter table "sso_login_state" add constraint "sso_login_state_provider_id_foreign" foreign key ("provider_id") references "sso_provider" ("id") on update cascade on delete cascade;`,
    );

    this.addSql(
      `create table "portal_setting" ("id" int not null, "local_passwords" text check ("local_passwords" in ('everyone', 'admins_only')) not null, "updated_at" timestamptz not null, constraint "portal_setting_pkey" primary key ("id"));`,
    );
    this.addSql(
      `insert into "portal_setting" ("id", "local_passwords", "updated_at") values (1, 'everyone', now());`,
    );

    this.addSql(`alter table "app_user" alter column "password_hash" drop not null;`);
    this.addSql(
      `alter table "app_user" add column "sso_provider_id" varchar(48) null, add column "sso_subject" varchar(255) null;`,
    );
    this.addSql(
      `alter table "app_user" add constraint "app_user_sso_provider_id_sso_subject_unique" unique ("sso_provider_id", "sso_subject");`,
    );
    this.addSql(
      `alter table "app_user" add constraint "app_user_sso_provider_id_foreign" foreign key ("sso_provider_id") references "sso_provider" ("id") on update cascade on delete set null;`,
    );

    this.addSql(`alter table "group_membership" add column "source_provider_id" varchar(48) null;`);
    this.addSql(
      `create index "group_membership_source_provider_id_index" on "group_membership" ("source_provider_id");`,
    );
    this.addSql(
      `alter table "group_membership" add constraint "group_membership_source_provider_id_foreign" foreign key ("source_provider_id") references "sso_provider" ("id") on update cascade on delete cascade;`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "group_membership" drop column "source_provider_id";`);
    this.addSql(`alter table "app_user" drop column "sso_provider_id", drop column "sso_subject";`);
    this.addSql(`delete from "app_user" where "password_hash" is null;`);
    this.addSql(`alter table "app_user" alter column "password_hash" set not null;`);
    this.addSql(`drop table if exists "portal_setting" cascade;`);
    this.addSql(`drop table if exists "sso_login_state" cascade;`);
    this.addSql(`drop table if exists "sso_provider" cascade;`);
  }
}
