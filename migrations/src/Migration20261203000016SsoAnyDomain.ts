import { Migration } from '@mikro-orm/migrations';

/**
 * Email domains are default deny (ADR 0032): taking any domain is an explicit `allow_any_domain`. A provider
 * saved before this with no domains signed in any address; it keeps doing so, now as a visible choice.
 */
export class Migration20261203000016SsoAnyDomain extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "sso_provider" add column "allow_any_domain" boolean not null default false;`);
    this.addSql(
      `update "sso_provider" set "allow_any_domain" = true where jsonb_array_length("allowed_domains") = 0;`,
    );
    this.addSql(`alter table "sso_provider" alter column "allow_any_domain" drop default;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "sso_provider" drop column "allow_any_domain";`);
  }
}
