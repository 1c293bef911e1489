import { Migration } from '@mikro-orm/migrations';

export class Migration20261124000004KillSwitches extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "kill_switch" ("target_type" text check ("target_type" in ('mcp', 'client', 'user')) not null, "target_id" varchar(48) not null, "reason" varchar(500) not null, "killed_by" varchar(48) not null, "killed_at" timestamptz not null, constraint "kill_switch_pkey" primary key ("target_type", "target_id"));`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "kill_switch" cascade;`);
  }
}
