// The session's two speed sets — the normal limits and the alternative ("turtle") ones — and the
// schedule that switches between them, as Transmission's alt-speed and qBittorrent's scheduler do.
// The schedule switches at the edges of its window (turtle on when a window begins, off when it
// ends); a user's switch in between holds until the next edge. Pure but for `apply`, which the
// owner points at the session's token buckets; the owner also calls `tick` (a timer, at start).

/** When the alternative speeds apply: local time, minutes after midnight, on these weekdays. */
export interface AltSpeedSchedule {
  enabled: boolean;
  /** Weekdays the window begins on, 0 Sunday … 6 Saturday (as `Date.getDay`). */
  days: number[];
  /** 0…1439; a window whose end is before its begin runs past midnight into the next day. */
  beginMinute: number;
  endMinute: number;
}

export interface RatePair {
  uploadLimitBytesPerSec: number;
  downloadLimitBytesPerSec: number;
}

export interface AltSpeedState {
  normal: RatePair;
  alt: RatePair;
  /** Whether the alternative speeds are on now. */
  enabled: boolean;
  schedule: AltSpeedSchedule;
}

export const NO_SCHEDULE: AltSpeedSchedule = {
  enabled: false,
  days: [0, 1, 2, 3, 4, 5, 6],
  beginMinute: 9 * 60,
  endMinute: 17 * 60,
};

/** Whether `at` (local time) is inside the schedule's window; false when the schedule is off. */
export function inScheduleWindow(s: AltSpeedSchedule, at: Date): boolean {
  if (!s.enabled || s.beginMinute === s.endMinute) return false;
  const minute = at.getHours() * 60 + at.getMinutes();
  const today = at.getDay();
  const yesterday = (today + 6) % 7;
  if (s.beginMinute < s.endMinute)
    return s.days.includes(today) && minute >= s.beginMinute && minute < s.endMinute;
  // Past midnight: from begin to midnight on a chosen day, and from midnight to end on the day after.
  return (
    (s.days.includes(today) && minute >= s.beginMinute) ||
    (s.days.includes(yesterday) && minute < s.endMinute)
  );
}

export class AltSpeeds {
  #s: AltSpeedState;
  readonly #apply: (effective: RatePair) => void;
  /** The window's state at the last tick (undefined: never ticked, or the schedule changed). */
  #lastInWindow: boolean | undefined;

  constructor(state: AltSpeedState, apply: (effective: RatePair) => void) {
    this.#s = structuredClone(state);
    this.#apply = apply;
    this.#apply(this.effective);
  }

  get state(): Readonly<AltSpeedState> {
    return this.#s;
  }

  /** The limits in force: the alternative ones while turtle is on. */
  get effective(): RatePair {
    return { ...(this.#s.enabled ? this.#s.alt : this.#s.normal) };
  }

  /** Changes some of the state and applies the result; a new schedule takes effect at the next tick. */
  set(change: {
    normal?: Partial<RatePair>;
    alt?: Partial<RatePair>;
    enabled?: boolean;
    schedule?: Partial<AltSpeedSchedule>;
  }): void {
    const s = this.#s;
    Object.assign(s.normal, change.normal);
    Object.assign(s.alt, change.alt);
    if (change.enabled !== undefined) s.enabled = change.enabled;
    if (change.schedule) {
      Object.assign(s.schedule, change.schedule);
      this.#lastInWindow = undefined;
    }
    this.#apply(this.effective);
  }

  /**
   * At an edge of the schedule's window (or at the first tick after a start or a new schedule),
   * turtle follows the window. True when that switched it.
   */
  tick(at: Date): boolean {
    if (!this.#s.schedule.enabled) {
      this.#lastInWindow = undefined;
      return false;
    }
    const inWindow = inScheduleWindow(this.#s.schedule, at);
    const edge = inWindow !== this.#lastInWindow;
    this.#lastInWindow = inWindow;
    if (!edge || this.#s.enabled === inWindow) return false;
    this.#s.enabled = inWindow;
    this.#apply(this.effective);
    return true;
  }
}

/** What session.json keeps of the speeds (SessionSettings' fields of the same names). */
export interface SavedSpeeds {
  uploadLimitBytesPerSec?: number;
  downloadLimitBytesPerSec?: number;
  altSpeedEnabled?: boolean;
  altUploadLimitBytesPerSec?: number;
  altDownloadLimitBytesPerSec?: number;
  altSpeedSchedule?: AltSpeedSchedule;
}

/** The speeds saved (absent: no limit, turtle off, no schedule), applied to a session's two buckets. */
export function altSpeedsFor(
  buckets: { uploadLimit: { setRate(r: number): void }; downloadLimit: { setRate(r: number): void } },
  saved: SavedSpeeds,
): AltSpeeds {
  return new AltSpeeds(
    {
      normal: {
        uploadLimitBytesPerSec: saved.uploadLimitBytesPerSec ?? 0,
        downloadLimitBytesPerSec: saved.downloadLimitBytesPerSec ?? 0,
      },
      alt: {
        uploadLimitBytesPerSec: saved.altUploadLimitBytesPerSec ?? 0,
        downloadLimitBytesPerSec: saved.altDownloadLimitBytesPerSec ?? 0,
      },
      enabled: saved.altSpeedEnabled ?? false,
      schedule: { ...NO_SCHEDULE, ...saved.altSpeedSchedule },
    },
    (e) => {
      buckets.uploadLimit.setRate(e.uploadLimitBytesPerSec);
      buckets.downloadLimit.setRate(e.downloadLimitBytesPerSec);
    },
  );
}

/** The speeds as session.json keeps them. */
export function savedSpeeds(s: Readonly<AltSpeedState>): Required<SavedSpeeds> {
  return {
    uploadLimitBytesPerSec: s.normal.uploadLimitBytesPerSec,
    downloadLimitBytesPerSec: s.normal.downloadLimitBytesPerSec,
    altSpeedEnabled: s.enabled,
    altUploadLimitBytesPerSec: s.alt.uploadLimitBytesPerSec,
    altDownloadLimitBytesPerSec: s.alt.downloadLimitBytesPerSec,
    altSpeedSchedule: { ...s.schedule, days: [...s.schedule.days] },
  };
}
