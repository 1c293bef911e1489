import { Migration } from '@mikro-orm/migrations';
/** The credential vault: per-owner salts and sealed credential values (issue 6). */

export class Migration20261124000006Vault extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "vault_credential" ("id" varchar(48) not null, "mcp_id" varchar(48) not null, "owner" varchar(48) not null, "user_id" varchar(48) null, "field" varchar(64) not null, "sealed" text not null, "key_id" varchar(16) not null, "updated_at" timestamptz not null, "updated_by" varchar(48) not null, constraint "vault_credential_pkey" primary key ("id"));`,
    );
    this.addSql(`create index "vault_credential_user_id_index" on "vault_credential" ("user_id");`);
    this.addSql(`create index "vault_credential_key_id_index" on "vault_credential" ("key_id");`);
    this.addSql(
      `alter table "vault_credential" add constraint "vault_credential_mcp_id_owner_field_unique" unique ("mcp_id", "owner", "field");`,
    );

    this.addSql(
      `create table "vault_salt" ("owner" varchar(48) not null, "salt" varchar(44) not null, "created_at" timestamptz not null, constraint "vault_salt_pkey" primary key ("owner"));`,
    );

    this.addSql(
      `alter table "vault_credential" add constraint "vault_credential_mcp_id_foreign" foreign key ("mcp_id") references "mcp_server" ("id") on update cascade on delete cascade;`,
    );
    this.addSql(
      `alter table "vault_credential" add constraint "vault_credential_user_id_foreign" foreign key ("user_id") references "app_user" ("id") on update cascade on delete cascade;`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "vault_credential" cascade;`);

    this.addSql(`drop table if exists "vault_salt" cascade;`);
  }
}
