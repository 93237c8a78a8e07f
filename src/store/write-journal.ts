import {
  closeSync,
  fstatSync,
  ftruncateSync,
  openSync,
  readFileSync,
  readSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { isProcessAlive } from "../core/process-alive.ts";

/**
 * The SQLite writer's write-ahead journal (see `SqliteWriter.runLater`): an append-only file of
 * JSON lines `[seq, job, args]` next to the database. A call is in it, with one `write(2)` per turn
 * of the event loop, before its caller is told it is written; the transaction that runs the call
 * later also stores the highest sequence number it carried (table `writer_journal`). What a
 * killed process leaves in the file past that number is run again by the next process that opens
 * the database. The OS holds the file's pages once `write` returns, so a killed process loses
 * nothing; an OS crash may lose the last writes, as SQLite's own `synchronous = NORMAL` may.
 *
 * One process at a time journals a database: `<database>.writes.lock` holds its pid. Another
 * process (a second server on the same file, the CLI while the server runs) writes without a
 * journal, each call waiting for its commit.
 */
export interface WriteJournal {
  /** Queues a call; `written` resolves once it is in the file (end of this turn). */
  add(job: string, args: unknown): { seq: number; written: Promise<void> };
  /** Every call up to `seq` is committed: a large file is emptied when it holds nothing newer. */
  committed(seq: number): void;
  /** Writes what is queued, closes the file and gives up the lock. */
  close(): void;
}

/** A call the file holds past the committed mark: to run again. */
export type JournalEntry = [seq: number, job: string, args: unknown];

/** The file is emptied once everything in it is committed and it is larger than this. */
const truncateAt = 1 << 20;

/**
 * Takes the journal of the database at `databasePath`, if no live process holds it: returns the
 * journal and the calls its file holds after `committedSeq` (written by a process that was killed
 * before their transaction committed), in order. Undefined when another live process holds it.
 */
export function openWriteJournal(
  databasePath: string,
  committedSeq: number,
): { journal: WriteJournal; pending: JournalEntry[] } | undefined {
  const lockPath = `${databasePath}.writes.lock`;
  if (!takeLock(lockPath)) return undefined;
  const path = `${databasePath}.writes.jsonl`;
  const fd = openSync(path, "a+");
  const pending: JournalEntry[] = [];
  let lastSeq = committedSeq;
  const { entries, complete } = readEntries(fd);
  for (const entry of entries) {
    if (entry[0] > lastSeq) lastSeq = entry[0];
    if (entry[0] > committedSeq) pending.push(entry);
  }
  // A write the kill cut short (no newline): dropped, so that the next line starts clean.
  if (complete < fstatSync(fd).size) ftruncateSync(fd, complete);
  let size = complete;
  let buffer: string[] = [];
  let waiting: Array<{ resolve(): void; reject(error: unknown): void }> = [];
  let scheduled = false;
  let closed = false;
  let committedUpTo = committedSeq;
  const emptyIfDone = (): void => {
    if (closed || committedUpTo < lastSeq || buffer.length > 0 || size === 0) return;
    ftruncateSync(fd, 0);
    size = 0;
  };

  const flush = (): void => {
    scheduled = false;
    if (buffer.length === 0) return;
    const text = buffer.join("");
    const callers = waiting;
    buffer = [];
    waiting = [];
    try {
      const bytes = Buffer.from(text);
      let offset = 0;
      while (offset < bytes.length) offset += writeSync(fd, bytes, offset);
      size += bytes.length;
    } catch (error) {
      for (const caller of callers) caller.reject(error);
      return;
    }
    for (const caller of callers) caller.resolve();
  };

  const journal: WriteJournal = {
    add(job, args) {
      if (closed) throw new Error("the SQLite writer's journal is closed");
      const seq = ++lastSeq;
      buffer.push(`${JSON.stringify([seq, job, args])}\n`);
      const written = new Promise<void>((resolve, reject) => waiting.push({ resolve, reject }));
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
      return { seq, written };
    },
    committed(seq) {
      if (seq > committedUpTo) committedUpTo = seq;
      // Nothing newer is in the file or on its way to it: empty it (appends continue at its end).
      if (size >= truncateAt) emptyIfDone();
    },
    close() {
      if (closed) return;
      flush();
      // A clean stop leaves an empty file.
      emptyIfDone();
      closed = true;
      closeSync(fd);
      releaseLock(lockPath);
    },
  };
  return { journal, pending };
}

/** The file's entries, and the length of its complete lines. */
function readEntries(fd: number): { entries: JournalEntry[]; complete: number } {
  const entries: JournalEntry[] = [];
  const { size } = fstatSync(fd);
  if (size === 0) return { entries, complete: 0 };
  const bytes = Buffer.alloc(size);
  let offset = 0;
  while (offset < size) {
    const read = readSync(fd, bytes, offset, size - offset, offset);
    if (read === 0) break;
    offset += read;
  }
  const complete = bytes.lastIndexOf(0x0a, offset - 1) + 1;
  for (const line of bytes.toString("utf8", 0, complete).split("\n")) {
    if (line === "") continue;
    let entry: unknown;
    try {
      entry = JSON.parse(line);
    } catch {
      continue;
    }
    if (Array.isArray(entry) && typeof entry[0] === "number" && typeof entry[1] === "string")
      entries.push(entry as JournalEntry);
  }
  return { entries, complete };
}

/** Held locks of this process (released at exit). */
const held = new Set<string>();
let exitHook = false;

function takeLock(lockPath: string): boolean {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lockPath, "wx");
      writeSync(fd, String(process.pid));
      closeSync(fd);
      held.add(lockPath);
      if (!exitHook) {
        exitHook = true;
        process.once("exit", () => {
          for (const path of held) releaseLock(path);
        });
      }
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    let owner = Number.NaN;
    try {
      owner = Number(readFileSync(lockPath, "utf8").trim());
    } catch {
      // Removed meanwhile: try again.
    }
    // This process holds it through another connection; another live process holds it.
    if (owner === process.pid && held.has(lockPath)) return false;
    if (owner !== process.pid && Number.isInteger(owner) && owner > 0 && isProcessAlive(owner)) return false;
    // Its process is gone (killed), or was an earlier process with this pid (a container's pid 1
    // after a restart): the lock is stale.
    try {
      unlinkSync(lockPath);
    } catch {
      // Another process took it over first.
    }
  }
  return false;
}

function releaseLock(lockPath: string): void {
  if (!held.delete(lockPath)) return;
  try {
    unlinkSync(lockPath);
  } catch {
    // Already gone.
  }
}
