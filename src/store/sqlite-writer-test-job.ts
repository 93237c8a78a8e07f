import type SQLite from "better-sqlite3";
import { sqliteJob } from "./sqlite-writer.ts";

/** A job for the writer's tests: inserts a value into `writer_test`, and throws on a negative one. */
export function prepareTestInsert(sqlite: SQLite.Database): (value: number) => number {
  const insert = sqlite.prepare("insert into writer_test (value) values (?)");
  return (value) => {
    if (value < 0) throw new RangeError(`negative: ${value}`);
    return Number(insert.run(value).lastInsertRowid);
  };
}

export const testInsertJob = sqliteJob(import.meta.url, "prepareTestInsert", prepareTestInsert);

/** A foldable job for the writer's tests: inserts every value of its list; returns how many it inserted. */
export function prepareTestInsertMany(sqlite: SQLite.Database): (values: number[]) => number {
  const insert = sqlite.prepare("insert into writer_test (value) values (?)");
  return (values) => {
    for (const value of values) insert.run(value);
    return values.length;
  };
}

export const testInsertManyJob = sqliteJob(import.meta.url, "prepareTestInsertMany", prepareTestInsertMany);
