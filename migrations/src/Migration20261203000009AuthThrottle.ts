import { Migration } from '@mikro-orm/migrations';

/**
 * Failed-authentication throttles shared by every Gatehouse process on the database (ADR 0018):
 * `auth_throttle` holds one fixed-window counter per bucket (`mcp-ip:…`, `login-pair:…`), updated by a
 * single upsert; `login_known_address` remembers where an account last signed in successfully, so the
 * per-account limit slows strangers without locking its owner out.
 */
export class Migration20261203000009AuthThrottle extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create table "auth_throttle" (
      "bucket" varchar(300) not null primary key,
      "window_start" timestamptz not null,
      "hits" integer not null
    );`);
    this.addSql(`create index "auth_throttle_window_start_index" on "auth_throttle" ("window_start");`);
    this.addSql(`create table "login_known_address" (
      "username" varchar(128) not null,
      "ip" varchar(64) not null,
      "last_success_at" timestamptz not null,
      primary key ("username", "ip")
    );`);
    this.addSql(
      `create index "login_known_address_last_success_at_index" on "login_known_address" ("last_success_at");`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "login_known_address";`);
    this.addSql(`drop table if exists "auth_throttle";`);
  }
}
