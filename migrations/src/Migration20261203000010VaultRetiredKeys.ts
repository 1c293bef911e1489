import { Migration } from '@mikro-orm/migrations';

/**
 * Retired master keys, recorded in PostgreSQL so that every running server refuses them at once (not when it
 * next re-reads its keyring file), and so that replicas sharing the database agree. See ADR 0019.
 */
export class Migration20261203000010VaultRetiredKeys extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "vault_retired_key" ("key_id" varchar(16) not null, "retired_at" timestamptz not null, constraint "vault_retired_key_pkey" primary key ("key_id"));`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "vault_retired_key" cascade;`);
  }
}
