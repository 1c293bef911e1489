import { Migration } from '@mikro-orm/migrations';

/**
 * Review fixes of the authorization server's storage (ADR 0034).
 * - `oauth_server_record` gains `account_id` and `client_id`, indexed and filled when a record is written,
 *   so revoking a person's or a client's grants (and a person's sessions and interactions) is an index
 *   lookup instead of a scan of the JSON payloads.
 * - Registered clients expire: 30 days from registration, extended by every grant or token issued to them
 *   (see the adapter); existing registrations get 30 days from the migration.
 */
export class Migration20261203000015OAuthRecordColumns extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "oauth_server_record" add column "account_id" varchar(64) null;`);
    this.addSql(`alter table "oauth_server_record" add column "client_id" varchar(2048) null;`);
    this.addSql(`update "oauth_server_record" set
      "account_id" = coalesce("payload"->>'accountId', "payload"->'session'->>'accountId'),
      "client_id" = case when "model" = 'Client' then "payload"->>'client_id'
                         else coalesce("payload"->>'clientId', "payload"->'params'->>'client_id') end;`);
    this.addSql(
      `create index "oauth_server_record_account_id_index" on "oauth_server_record" ("account_id");`,
    );
    this.addSql(`create index "oauth_server_record_client_id_index" on "oauth_server_record" ("client_id");`);
    this.addSql(
      `update "oauth_server_record" set "expires_at" = now() + interval '30 days' where "model" = 'Client' and "expires_at" is null;`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop index if exists "oauth_server_record_client_id_index";`);
    this.addSql(`drop index if exists "oauth_server_record_account_id_index";`);
    this.addSql(`alter table "oauth_server_record" drop column "account_id", drop column "client_id";`);
  }
}
