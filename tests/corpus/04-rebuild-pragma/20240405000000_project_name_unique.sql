-- Written the way the SQLite documentation lists the steps, in lower case.
pragma main.foreign_keys = 0;
create table project_tmp (
    id integer not null primary key autoincrement,
    name text not null unique,
    description text not null default '',
    userId integer not null references "User" (id) on delete cascade on update cascade
);
insert into project_tmp (id, name, description, userId) select id, name, description, userId from "Project";
drop table "Project";
alter table project_tmp rename to "Project";
create index "Project_userId_idx" on "Project"("userId");
pragma foreign_key_check;
pragma foreign_keys = 1;
