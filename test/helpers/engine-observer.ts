import type { EngineObserver } from '../../src/engine/events';

/** One recorded engine event: the observer method called and its arguments. */
export type EngineEvent = {
  [K in keyof EngineObserver]: { readonly name: K; readonly args: Parameters<EngineObserver[K]> };
}[keyof EngineObserver];

/** An {@link EngineObserver} that records every event in order, and the recorded events. */
export function recordingObserver(): {
  readonly observer: EngineObserver;
  readonly events: EngineEvent[];
  /** The arguments of every recorded `name` event, in order. */
  of<K extends keyof EngineObserver>(name: K): Parameters<EngineObserver[K]>[];
} {
  const events: EngineEvent[] = [];
  const observer = new Proxy({} as EngineObserver, {
    get:
      (_target, name) =>
      (...args: unknown[]) => {
        events.push({ name, args } as unknown as EngineEvent);
      },
  });
  return {
    observer,
    events,
    of: (name) =>
      events.filter((e) => e.name === name).map((e) => e.args) as Parameters<EngineObserver[typeof name]>[],
  };
}
