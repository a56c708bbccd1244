/** flake-idgen 1.4 ships no types; only what the benchmark calls is declared. */
declare module 'flake-idgen' {
  interface FlakeIdOptions {
    /** 0…31. */
    datacenter?: number;
    /** 0…31. */
    worker?: number;
    /** Subtracted from Date.now(), in ms. */
    epoch?: number;
  }
  class FlakeId {
    constructor(options?: FlakeIdOptions);
    /** The next ID as 8 big-endian bytes; throws when this ms's 4,096 sequence values are used up. */
    next(): Buffer;
  }
  export = FlakeId;
}
