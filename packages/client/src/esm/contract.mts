// The ES module entry of the contract re-exports its CommonJS build (one copy per application).
export * from '../contract/index.js';
