/**
 * The live path's default clock: RxJS's async scheduler for timers, with performance.now()
 * as `now()`, the time base of frame arrivals (ingest) and of the runner's deadlines.
 */
import { asyncScheduler, type SchedulerLike } from 'rxjs';

export const performanceScheduler: SchedulerLike = {
  now: () => performance.now(),
  schedule: asyncScheduler.schedule.bind(asyncScheduler) as SchedulerLike['schedule'],
};
