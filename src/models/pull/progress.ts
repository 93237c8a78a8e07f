/** One progress report of a file being downloaded. */
export interface DownloadProgress {
  file: string;
  downloadedBytes: number;
  totalBytes: number | undefined;
  /** Average over the last few seconds; 0 before there is anything to average. */
  bytesPerSecond: number;
  /** 1-based position of the file in a split set, and the set's size. */
  fileIndex?: number;
  fileCount?: number;
  /** True on the last report of a file (verified and in place). */
  done?: boolean;
}

export type ProgressCallback = (progress: DownloadProgress) => void;

/** Speed over a sliding window, so a stall shows as a falling rate rather than a lifetime average. */
export function createSpeedMeter(windowMs = 5_000, now: () => number = Date.now) {
  const samples: Array<{ at: number; bytes: number }> = [];
  return {
    /** Records the running byte count and returns the current rate in bytes per second. */
    sample(bytes: number): number {
      const at = now();
      samples.push({ at, bytes });
      while (samples.length > 2 && (samples[0]?.at ?? at) < at - windowMs) samples.shift();
      const first = samples[0];
      if (first === undefined || at - first.at < 1) return 0;
      return ((bytes - first.bytes) * 1000) / (at - first.at);
    },
    reset(): void {
      samples.length = 0;
    },
  };
}

const units = ["B", "kB", "MB", "GB", "TB"];

/** 1234567 → "1.2 MB" (decimal units, as disks and the hub count). */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? value.toFixed(0) : value.toFixed(value >= 100 ? 0 : 1)} ${units[unit]}`;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "--:--";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
}

/** One human line for a progress report: name, bar, bytes, speed, ETA. */
export function formatProgressLine(progress: DownloadProgress, width = 24): string {
  const { downloadedBytes: done, totalBytes: total, bytesPerSecond: speed } = progress;
  const part =
    progress.fileCount !== undefined && progress.fileCount > 1
      ? ` [${progress.fileIndex}/${progress.fileCount}]`
      : "";
  const fraction = total !== undefined && total > 0 ? Math.min(1, done / total) : undefined;
  const bar =
    fraction === undefined
      ? ""
      : `[${"#".repeat(Math.round(fraction * width)).padEnd(width, ".")}] ${(fraction * 100).toFixed(0).padStart(3)}% `;
  const bytes = total === undefined ? formatBytes(done) : `${formatBytes(done)}/${formatBytes(total)}`;
  const eta = progress.done
    ? "done"
    : total !== undefined && speed > 0
      ? `ETA ${formatDuration((total - done) / speed)}`
      : "ETA --:--";
  return `${progress.file}${part} ${bar}${bytes} ${formatBytes(speed)}/s ${eta}`;
}

export interface ProgressBarOptions {
  stream?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  quiet?: boolean;
  /** Non-TTY output: one line per this many ms (default 5 s). */
  lineIntervalMs?: number;
  now?: () => number;
}

/**
 * A progress display for stderr: on a TTY one line redrawn in place (at most 10 times a second);
 * elsewhere (logs, CI) a line every few seconds and one per finished file. Quiet prints nothing.
 */
export function createProgressBar(options: ProgressBarOptions = {}): {
  onProgress: ProgressCallback;
  finish(): void;
} {
  const stream = options.stream ?? process.stderr;
  const now = options.now ?? Date.now;
  const tty = stream.isTTY === true;
  const interval = tty ? 100 : (options.lineIntervalMs ?? 5_000);
  let lastDraw = Number.NEGATIVE_INFINITY;
  let drawn = false;
  if (options.quiet) return { onProgress: () => {}, finish: () => {} };

  return {
    onProgress(progress) {
      const at = now();
      if (!progress.done && at - lastDraw < interval) return;
      lastDraw = at;
      const line = formatProgressLine(progress);
      if (tty) {
        const columns = stream.columns ?? 100;
        stream.write(`\r${line.slice(0, columns - 1).padEnd(Math.min(columns - 1, line.length))}\x1b[K`);
        drawn = true;
        if (progress.done) {
          stream.write("\n");
          drawn = false;
        }
      } else {
        stream.write(`${line}\n`);
      }
    },
    finish() {
      if (tty && drawn) stream.write("\n");
      drawn = false;
    },
  };
}
