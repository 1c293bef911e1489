import { Migration } from '@mikro-orm/migrations';

/**
 * The OAuth 2.1 authorization server for MCP clients (ADR 0033, ADR 0034).
 * - `oauth_server_record`: every oidc-provider model (grants, codes, access and refresh tokens, sessions,
 *   interactions, registered clients), keyed by the SHA-256 of its id: a leaked table hands out no live token.
 *   `expires_at` is computed with Gatehouse's clock when written and checked with it when read.
 * - `oauth_server_secret`: the signing keys (JWKS) and cookie keys, generated on first start and sealed by the
 *   vault, so every replica shares them and no default secret exists.
 * - `mcp_client` gains the OAuth client it stands for; such a client has no key.
 */
export class Migration20261203000014OAuthServer extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create table "oauth_server_record" (
      "model" varchar(40) not null,
      "id_hash" varchar(64) not null,
      "payload" jsonb not null,
      "grant_id" varchar(64) null,
      "uid" varchar(64) null,
      "expires_at" timestamptz null,
      "consumed_at" timestamptz null,
      constraint "oauth_server_record_pkey" primary key ("model", "id_hash"),
      constraint "oauth_server_record_payload_size" check (octet_length("payload"::text) <= 65536)
    );`);
    this.addSql(`create index "oauth_server_record_grant_id_index" on "oauth_server_record" ("grant_id");`);
    this.addSql(`create index "oauth_server_record_uid_index" on "oauth_server_record" ("uid");`);
    this.addSql(
      `create index "oauth_server_record_expires_at_index" on "oauth_server_record" ("expires_at");`,
    );
    this.addSql(`create table "oauth_server_secret" (
      "name" varchar(40) not null,
      "sealed" text not null,
      "created_at" timestamptz not null,
      constraint "oauth_server_secret_pkey" primary key ("name")
    );`);
    this.addSql(`alter table "mcp_client" alter column "key_hash" drop not null;`);
    this.addSql(`alter table "mcp_client" alter column "key_prefix" drop not null;`);
    this.addSql(`alter table "mcp_client" add column "oauth_client_id" varchar(2048) null;`);
    this.addSql(
      `alter table "mcp_client" add column "oauth_registration" text check ("oauth_registration" in ('cimd', 'dcr')) null;`,
    );
    this.addSql(`alter table "mcp_client" add column "oauth_domain" varchar(255) null;`);
    this.addSql(
      `create unique index "mcp_client_user_oauth_client_unique" on "mcp_client" ("user_id", "oauth_client_id") where "oauth_client_id" is not null and "status" <> 'revoked';`,
    );
    this.addSql(
      `alter table "mcp_client" add constraint "mcp_client_key_or_oauth" check (("key_hash" is null) <> ("oauth_client_id" is null));`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "mcp_client" drop constraint if exists "mcp_client_key_or_oauth";`);
    this.addSql(`drop index if exists "mcp_client_user_oauth_client_unique";`);
    this.addSql(`delete from "mcp_client" where "oauth_client_id" is not null;`);
    this.addSql(
      `alter table "mcp_client" drop column "oauth_client_id", drop column "oauth_registration", drop column "oauth_domain";`,
    );
    this.addSql(`alter table "mcp_client" alter column "key_hash" set not null;`);
    this.addSql(`alter table "mcp_client" alter column "key_prefix" set not null;`);
    this.addSql(`drop table if exists "oauth_server_secret" cascade;`);
    this.addSql(`drop table if exists "oauth_server_record" cascade;`);
  }
}
