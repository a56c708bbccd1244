import type { Logger } from 'pino';
import type { SkewAction } from '../core/time-base';
import type { EngineObserver } from '../engine/events';
import type { Metrics } from './metrics';

/** Log message per skew-check outcome. */
const SKEW_MESSAGES: Readonly<Record<SkewAction, string>> = {
  tolerated: 'wall clock moved against the ID time base; within the bound, serving on the monotonic base',
  'reanchored-forward': 'wall clock is ahead of the ID time base beyond the bound: time base moved forward',
  refusing: 'wall clock is behind the ID time base beyond the bound',
  'reanchored-after-catch-up': 'wall clock has passed the latest time used: time base re-anchored to it',
};

/**
 * Refusals that are the expected course of a start or a stop: the lines that explain them (claiming,
 * waiting for the clock, shutting down) are logged where they happen, so they are not logged as errors.
 */
const EXPECTED_REFUSALS: ReadonlySet<string> = new Set(['STARTING', 'SHUTTING_DOWN']);

/**
 * The one place where engine events become metrics and log lines: `metrics` (names as in
 * src/metrics/metrics.ts) and `logger`. Health is not set here: the composition root follows
 * {@link EngineObserver.availabilityChanged} for it.
 */
export function engineMetrics(metrics: Metrics, logger: Logger): EngineObserver {
  /** True while a refusal other than an expected one was logged and IDs have not been issued since. */
  let refusingLogged = false;
  return {
    issued(count) {
      metrics.idsGenerated.inc(count);
    },
    refused(err) {
      metrics.refusals.inc({ code: err.code });
    },
    sequenceExhausted() {
      metrics.sequenceExhausted.inc();
    },
    stateWriteFailed(err, where) {
      metrics.stateWriteFailures.inc();
      logger.error({ err: err.message, where }, 'cannot persist the timestamp reservation');
    },
    foreignStateFileIgnored(path, fileNode, node) {
      logger.info(
        { path, fileNode, node },
        'state file belongs to another worker ID (claimed earlier); its reservation does not apply',
      );
    },
    waitingForFloor(behindMs, floorMs) {
      logger.warn(
        { behindMs, reservedUntil: new Date(floorMs).toISOString() },
        'clock is behind the persisted reservation: waiting before serving (NOT_SERVING)',
      );
    },
    firstWriteRetry(err, attempt, retryInMs) {
      logger.warn(
        { err: err.message, attempt, retryInMs },
        'cannot persist the first timestamp reservation yet; retrying before serving (NOT_SERVING)',
      );
    },
    availabilityChanged(refusal) {
      metrics.serving.set(refusal === undefined ? 1 : 0);
      if (refusal === undefined) {
        if (refusingLogged) logger.info('issuing IDs again');
        refusingLogged = false;
      } else if (!EXPECTED_REFUSALS.has(refusal.code)) {
        refusingLogged = true;
        logger.error({ code: refusal.code, err: refusal.message }, 'refusing to issue IDs');
      }
    },
    leaseStateChanged(valid) {
      metrics.workerLeaseState.set(valid ? 1 : 0);
    },
    nodeChanged(node) {
      metrics.workerInfo.reset();
      metrics.workerInfo.set({ datacenter_id: node.datacenterId, worker_id: node.workerId }, 1);
    },
    skewChanged({ skewMs, stepMs, action, stepped }) {
      if (stepped && stepMs < 0) metrics.clockBackwards.inc();
      metrics.clockSkew.set(action === 'tolerated' || action === 'refusing' ? skewMs / 1000 : 0);
      const fields = { skewMs: Math.round(skewMs), stepMs: Math.round(stepMs), action };
      if (action === 'refusing') logger.error(fields, SKEW_MESSAGES[action]);
      else if (stepped) logger.warn(fields, SKEW_MESSAGES[action]);
      // Not a step: a re-anchoring or the end of a refusal after the skew crept past the bound.
      else logger.info(fields, SKEW_MESSAGES[action]);
    },
    clockRead(skewMs, timeRemainingMs) {
      metrics.clockSkew.set(skewMs / 1000);
      metrics.timeRemaining.set(timeRemainingMs / 1000);
    },
    claiming(source, maxWaitMs) {
      logger.info(
        { maxStartupWaitMs: maxWaitMs },
        `claiming a worker ID in ${source} before serving (NOT_SERVING until then)`,
      );
    },
    sessionOpened(session, cause) {
      // The static and ordinal nodes are in the start line; a claimed one is news.
      if (cause !== 'start' || !session.claim.capabilities.claimWaits) return;
      logger.info(
        {
          datacenterId: session.claim.node.datacenterId,
          workerId: session.claim.node.workerId,
          stateFile: session.stateFile.path,
          reservedUntil: new Date(session.floorMs).toISOString(),
        },
        'worker ID claimed',
      );
    },
    serving(session, cause, reservedUntilMs) {
      if (cause === 'start')
        logger.info({ reservedUntil: new Date(reservedUntilMs).toISOString() }, 'serving');
      else logger.info({ node: session.claim.node }, 'worker ID claimed again; serving');
    },
    claimLost(node, reason) {
      logger.error({ reason, node }, 'worker ID lost: refusing, then claiming one again');
    },
    reclaimFailed(err, retryInMs) {
      logger.error(
        { err: err instanceof Error ? err.message : err, retryInMs },
        'cannot claim a worker ID again; still refusing',
      );
    },
    finalWriteFailed(err) {
      logger.error({ err: err.message }, 'final reservation write failed');
    },
  };
}
