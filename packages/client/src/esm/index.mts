// The ES module entry re-exports the CommonJS build, so an application that both imports and requires
// the client shares one copy (one IdClientError class, one proto load).
export * from '../index.js';
