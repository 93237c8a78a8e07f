import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import type { NoteVerifier } from "../audit/signer.ts";
import { readSignedCheckpoint } from "../audit/verify.ts";
import { BastionError } from "../core/errors.ts";
import type { Store } from "../store/database.ts";

/** One signed checkpoint kept elsewhere (a line of an earlier `bastion audit export`). */
export interface WitnessCheckpoint {
  size: number;
  note: string;
}

export type WitnessResult =
  | { ok: true; checkpoints: number; pruned: number }
  | { ok: false; checkpoints: number; seq: number; reason: string };

/** The checkpoint lines of an export file (record lines are skipped: the database holds those). */
export async function readWitnessFile(path: string): Promise<WitnessCheckpoint[]> {
  const checkpoints: WitnessCheckpoint[] = [];
  let lineNumber = 0;
  const lines = createInterface({
    input: createReadStream(path, "utf8"),
    crlfDelay: Number.POSITIVE_INFINITY,
  });
  try {
    for await (const line of lines) {
      lineNumber++;
      if (line.trim() === "" || !line.includes('"checkpoint"')) continue;
      let parsed: { checkpoint?: { size?: unknown; note?: unknown } };
      try {
        parsed = JSON.parse(line) as typeof parsed;
      } catch {
        throw new BastionError(
          "invalid_request",
          `${path}:${lineNumber} is not JSON; --witness takes a file written by \`bastion audit export\`.`,
        );
      }
      const checkpoint = parsed.checkpoint;
      if (checkpoint === undefined) continue;
      if (typeof checkpoint.size !== "number" || typeof checkpoint.note !== "string")
        throw new BastionError(
          "invalid_request",
          `${path}:${lineNumber}: a checkpoint line needs a numeric size and a note, as \`bastion audit export\` writes them.`,
        );
      checkpoints.push({ size: checkpoint.size, note: checkpoint.note });
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT")
      throw new BastionError("not_found", `No witness file at ${path}.`);
    throw error;
  }
  if (checkpoints.length === 0)
    throw new BastionError(
      "invalid_request",
      `${path} holds no signed checkpoint; export one with \`bastion audit export -o <file>\` and keep it elsewhere.`,
    );
  return checkpoints;
}

/**
 * Checks the log in the store against checkpoints kept elsewhere. The log alone cannot show that
 * its newest records were deleted together with the checkpoints that covered them; a checkpoint
 * from an earlier export can: the log must still reach its size, and the record at that size (or,
 * after retention pruned it, the store's own checkpoint there) must have its signed root hash.
 * Checkpoints older than the oldest kept record whose own checkpoint retention deleted too are
 * counted as pruned, not checked: the log no longer holds anything to compare them with.
 * Run it after `verifyAudit` has passed, which vouches for the chain between those points.
 */
export async function checkAgainstWitness(options: {
  store: Store;
  witness: readonly WitnessCheckpoint[];
  verifiers: NoteVerifier[];
  origin: string;
}): Promise<WitnessResult> {
  const { db } = options.store;
  const sorted = [...options.witness].sort((a, b) => a.size - b.size);
  const bounds = await db
    .selectFrom("audit_log")
    .select((eb) => [eb.fn.min("seq").as("first"), eb.fn.max("seq").as("last")])
    .executeTakeFirst();
  const last = bounds?.last === null || bounds?.last === undefined ? 0 : Number(bounds.last);
  const first = bounds?.first === null || bounds?.first === undefined ? 1 : Number(bounds.first);
  let checked = 0;
  let pruned = 0;
  for (const checkpoint of sorted) {
    const fail = (seq: number, reason: string): WitnessResult => ({
      ok: false,
      checkpoints: checked,
      seq,
      reason,
    });
    const label = `the witness's checkpoint at size ${checkpoint.size}`;
    const parsed = readSignedCheckpoint(checkpoint.note, options.verifiers, options.origin, label);
    if ("error" in parsed) return fail(checkpoint.size, parsed.error);
    if (parsed.size !== checkpoint.size)
      return fail(
        checkpoint.size,
        `the witness's checkpoint at size ${checkpoint.size} is not a checkpoint of origin "${options.origin}"`,
      );
    if (last < parsed.size)
      return fail(
        last + 1,
        `the log ends at record ${last} but the witness holds a signed checkpoint covering ${parsed.size} records (truncated, with its checkpoints)`,
      );
    const record = await db
      .selectFrom("audit_log")
      .select("hash")
      .where("seq", "=", parsed.size)
      .executeTakeFirst();
    if (record !== undefined) {
      if (record.hash !== parsed.rootHashHex)
        return fail(
          parsed.size,
          `record ${parsed.size} differs from the witness's signed checkpoint at size ${parsed.size} (chain rewritten)`,
        );
    } else {
      // Pruned by retention: the store's checkpoint at that size anchors the records kept after it.
      const anchor = await db
        .selectFrom("audit_checkpoints")
        .select("root_hash")
        .where("size", "=", parsed.size)
        .executeTakeFirst();
      if (anchor === undefined) {
        // Older than the oldest kept record: retention deleted it with its checkpoint, and
        // verifyAudit has checked the signed anchor the kept records start from.
        if (parsed.size < first) {
          pruned++;
          continue;
        }
        return fail(
          parsed.size,
          `record ${parsed.size} is missing and no checkpoint in the log stands for it (the witness covers it)`,
        );
      }
      if (anchor.root_hash !== parsed.rootHashHex)
        return fail(
          parsed.size,
          `the log's checkpoint at size ${parsed.size} differs from the witness's (chain rewritten)`,
        );
    }
    checked++;
  }
  return { ok: true, checkpoints: checked, pruned };
}
