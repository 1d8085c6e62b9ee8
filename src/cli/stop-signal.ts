// How a command ends on SIGINT (Ctrl-C) and SIGTERM: the same clean stop as always (resume data
// saved, trackers told `stopped`), then the shell's exit code for that signal, 128 + its number
// (130 for SIGINT, 143 for SIGTERM). The stop is bounded: a second signal, or a deadline a few
// seconds after the first, ends the process at once with the same code.

export type StopSignal = 'SIGINT' | 'SIGTERM';

/** 128 + the signal's number, as a shell reports a process the signal ended. */
export const SIGNAL_EXIT_CODES: Readonly<Record<StopSignal, number>> = { SIGINT: 130, SIGTERM: 143 };

/** Default bound on a stop, from the first signal to the end of the process. */
export const STOP_DEADLINE_MS = 3000;

/**
 * Calls `handler` on the first SIGINT or SIGTERM, once, and bounds the stop (boundStop). Returns a function that removes the
 * listeners (when the command ends for another reason).
 */
export function onStopSignal(
  handler: (signal: StopSignal, exitCode: number) => void,
  deadlineMs = STOP_DEADLINE_MS,
): () => void {
  const listeners = (['SIGINT', 'SIGTERM'] as const).map((sig) => {
    const listener = (): void => {
      off();
      handler(sig, SIGNAL_EXIT_CODES[sig]);
      boundStop(SIGNAL_EXIT_CODES[sig], deadlineMs);
    };
    process.on(sig, listener);
    return [sig, listener] as const;
  });
  const off = (): void => {
    for (const [sig, listener] of listeners) process.off(sig, listener);
  };
  return off;
}

/** Resolves on the first SIGINT or SIGTERM with its exit code (the stop is bounded from then on). */
export function stopSignal(deadlineMs = STOP_DEADLINE_MS): Promise<{ signal: StopSignal; exitCode: number }> {
  return new Promise((resolve) => {
    onStopSignal((signal, exitCode) => resolve({ signal, exitCode }), deadlineMs);
  });
}

/**
 * From now on the process ends with `exitCode` within `deadlineMs`, or at once on a second signal,
 * whatever trackers, disks or sockets still do. The timer does not keep the process alive: a stop
 * that finishes in time ends it the ordinary way.
 */
export function boundStop(exitCode: number, deadlineMs = STOP_DEADLINE_MS): void {
  const deadline = setTimeout(() => process.exit(exitCode), deadlineMs);
  deadline.unref();
  const again = (): void => process.exit(exitCode);
  process.once('SIGINT', again);
  process.once('SIGTERM', again);
}
